package wire

import (
	"bytes"
	"errors"
	"io"
)

// sseReadSize is how much of the upstream body the SSE reader asks for at
// a time; lines longer than this are carried over, up to the event bound.
const sseReadSize = 4096

// maxEmptyReads bounds consecutive (0, nil) reads from a misbehaving
// io.Reader before the SSE reader gives up.
const maxEmptyReads = 100

// ErrEventTooLarge is returned when one SSE line or event exceeds the
// reader's bound.
var ErrEventTooLarge = errors.New("SSE event exceeds the size bound")

// SSEReader reads Server-Sent Events (the WHATWG event-stream format) from
// an upstream body: lines end in "\n", "\r\n" or "\r"; lines starting with
// ':' are comments; "data:" lines of one event are joined with "\n"; a
// blank line dispatches the event. Unlike a browser it also delivers a
// final event that lacks its blank line, so a stream whose last newline is
// missing still ends cleanly; callers detect truncation from the content.
//
// It holds at most max bytes of one line or event. It is not safe for
// concurrent use.
type SSEReader struct {
	r   io.Reader
	max int

	buf        []byte // read buffer, sseReadSize bytes
	start, end int    // unread window of buf
	line       []byte // a line spanning reads
	data       []byte // the current event's data, '\n' after each line
	event      []byte // the current event's type
	hasData    bool
	dispatched bool // data and event were returned and must be cleared
	skipLF     bool // the last line ended in '\r': a following '\n' is part of it
	first      bool // no line read yet (a leading BOM is dropped)
	eof        bool
	err        error // read error to report once the buffer is drained
}

// NewSSEReader returns a reader of the events in r that holds at most max
// bytes of one line or event.
func NewSSEReader(r io.Reader, max int) *SSEReader {
	return &SSEReader{r: r, max: max, buf: make([]byte, sseReadSize), first: true}
}

// Next returns the type and data of the next event. Both are valid until
// the next call. It returns io.EOF after the last event, ErrEventTooLarge
// for an oversized line or event, and the underlying read error otherwise.
func (s *SSEReader) Next() (event, data []byte, err error) {
	if s.dispatched {
		s.data, s.event, s.hasData, s.dispatched = s.data[:0], s.event[:0], false, false
	}
	for {
		line, err := s.readLine()
		if err == io.EOF {
			if s.hasData {
				return s.dispatch()
			}
			return nil, nil, io.EOF
		}
		if err != nil {
			return nil, nil, err
		}
		if len(line) == 0 {
			if s.hasData {
				return s.dispatch()
			}
			s.event = s.event[:0]
			continue
		}
		if err := s.field(line); err != nil {
			return nil, nil, err
		}
	}
}

func (s *SSEReader) dispatch() (event, data []byte, err error) {
	s.dispatched = true
	return s.event, bytes.TrimSuffix(s.data, []byte{'\n'}), nil
}

// field applies one non-blank line to the current event.
func (s *SSEReader) field(line []byte) error {
	if line[0] == ':' {
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if len(s.data)+len(value)+1 > s.max {
			return ErrEventTooLarge
		}
		s.data = append(s.data, value...)
		s.data = append(s.data, '\n')
		s.hasData = true
	case "event":
		s.event = append(s.event[:0], value...)
	}
	// id and retry only matter to a client that reconnects; an LLM
	// stream cannot be resumed.
	return nil
}

// readLine returns the next line without its terminator, valid until the
// next call, or io.EOF when the body is drained.
func (s *SSEReader) readLine() ([]byte, error) {
	s.line = s.line[:0]
	empty := 0
	for {
		if s.start < s.end {
			w := s.buf[s.start:s.end]
			if s.skipLF {
				s.skipLF = false
				if w[0] == '\n' {
					s.start++
					continue
				}
			}
			if i := lineEnd(w); i >= 0 {
				s.start += i + 1
				s.skipLF = w[i] == '\r'
				var line []byte
				if len(s.line) == 0 {
					line = w[:i]
				} else {
					s.line = append(s.line, w[:i]...)
					line = s.line
				}
				if len(line) > s.max {
					return nil, ErrEventTooLarge
				}
				return s.trimBOM(line), nil
			}
			if len(s.line)+len(w) > s.max {
				return nil, ErrEventTooLarge
			}
			s.line = append(s.line, w...)
			s.start = s.end
		}
		if s.eof {
			if len(s.line) > 0 {
				line := s.trimBOM(s.line)
				s.line = s.line[:0]
				return line, nil
			}
			if s.err != nil {
				return nil, s.err
			}
			return nil, io.EOF
		}
		n, err := s.r.Read(s.buf)
		s.start, s.end = 0, n
		switch {
		case err == io.EOF:
			s.eof = true
		case err != nil:
			s.eof, s.err = true, err
		case n == 0:
			if empty++; empty >= maxEmptyReads {
				return nil, io.ErrNoProgress
			}
		}
	}
}

func (s *SSEReader) trimBOM(line []byte) []byte {
	if s.first {
		s.first = false
		return bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
	}
	return line
}

// lineEnd returns the index of the first '\r' or '\n' in w, or -1.
func lineEnd(w []byte) int {
	i := bytes.IndexByte(w, '\n')
	if i < 0 {
		return bytes.IndexByte(w, '\r')
	}
	if j := bytes.IndexByte(w[:i], '\r'); j >= 0 {
		return j
	}
	return i
}
