package ollama

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// errLineTooLong is returned by lineReader.next for a line over its bound.
var errLineTooLong = errors.New("stream line too long")

// lineReader reads newline-delimited records with a bound on their length.
// Unlike bufio.Scanner it reports the read error that ended the stream, so
// a cut connection is not mistaken for the end of the answer.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte // holds a line that spans more than the bufio buffer
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 4096), max: max}
}

// next returns the next non-blank line, trimmed of surrounding white space.
// The slice is valid until the next call. It returns io.EOF after the last
// line; a last line without a newline is still returned first.
func (l *lineReader) next() ([]byte, error) {
	l.buf = l.buf[:0]
	for {
		frag, err := l.r.ReadSlice('\n')
		if len(l.buf)+len(frag) > l.max {
			return nil, errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			l.buf = append(l.buf, frag...)
			continue
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		line := frag
		if len(l.buf) > 0 {
			l.buf = append(l.buf, frag...)
			line = l.buf
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			return line, nil
		}
		if err == io.EOF {
			return nil, io.EOF
		}
		l.buf = l.buf[:0]
	}
}
