package wire

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/edgeway/edgeway/edge/testkit"
)

type sseEvent struct{ Event, Data string }

// readEvents drains an SSEReader over r.
func readEvents(r io.Reader, max int) ([]sseEvent, error) {
	s := NewSSEReader(r, max)
	var out []sseEvent
	for {
		ev, data, err := s.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, sseEvent{string(ev), string(data)})
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []sseEvent
		wantErr error
	}{
		{name: "LF", in: "data: a\n\ndata: b\n\n", want: []sseEvent{{"", "a"}, {"", "b"}}},
		{name: "CRLF", in: "data: a\r\n\r\ndata: b\r\n\r\n", want: []sseEvent{{"", "a"}, {"", "b"}}},
		{name: "bare CR", in: "data: a\r\rdata: b\r\r", want: []sseEvent{{"", "a"}, {"", "b"}}},
		{name: "mixed endings", in: "data: a\r\n\ndata: b\n\r\n", want: []sseEvent{{"", "a"}, {"", "b"}}},
		{name: "comments and keep-alives", in: ": OPENROUTER PROCESSING\n\n:\n\ndata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "multi-line data", in: "data: line1\ndata: line2\ndata:\n\n", want: []sseEvent{{"", "line1\nline2\n"}}},
		{name: "no space after colon", in: "data:tight\n\n", want: []sseEvent{{"", "tight"}}},
		{name: "only one space stripped", in: "data:  two\n\n", want: []sseEvent{{"", " two"}}},
		{name: "event type", in: "event: error\ndata: {}\n\ndata: plain\n\n", want: []sseEvent{{"error", "{}"}, {"", "plain"}}},
		{name: "event without data is dropped", in: "event: ping\n\ndata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "id and retry ignored", in: "id: 7\nretry: 100\ndata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "field without colon", in: "data\n\n", want: []sseEvent{{"", ""}}},
		{name: "unknown field", in: "foo: bar\ndata: x\n\n", want: []sseEvent{{"", "x"}}},
		{name: "missing final newline", in: "data: a\n\ndata: [DONE]", want: []sseEvent{{"", "a"}, {"", "[DONE]"}}},
		{name: "missing final blank line", in: "data: [DONE]\n", want: []sseEvent{{"", "[DONE]"}}},
		{name: "BOM", in: "\xef\xbb\xbfdata: a\n\n", want: []sseEvent{{"", "a"}}},
		{name: "empty", in: "", want: nil},
		{name: "blank lines only", in: "\n\n\r\n", want: nil},
		{name: "long line across reads", in: "data: " + strings.Repeat("x", 3*sseReadSize) + "\n\n", max: 4 * sseReadSize,
			want: []sseEvent{{"", strings.Repeat("x", 3*sseReadSize)}}},
		{name: "line over bound", in: "data: " + strings.Repeat("x", 100) + "\n\n", max: 50, wantErr: ErrEventTooLarge},
		{name: "line over bound across reads", in: "data: " + strings.Repeat("x", 2*sseReadSize) + "\n\n", max: sseReadSize, wantErr: ErrEventTooLarge},
		{name: "event over bound", in: strings.Repeat("data: 0123456789\n", 10) + "\n", max: 64, wantErr: ErrEventTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = 1 << 20
			}
			for _, mode := range []string{"whole", "one byte"} {
				var r io.Reader = strings.NewReader(tt.in)
				if mode == "one byte" {
					r = iotest.OneByteReader(r)
				}
				got, err := readEvents(r, max)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Errorf("%s: error = %v, want %v", mode, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", mode, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("%s: events = %q, want %q", mode, got, tt.want)
				}
			}
		})
	}
}

func TestSSEReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: partial"), iotest.ErrReader(boom))
	got, err := readEvents(r, 1024)
	if !errors.Is(err, boom) {
		t.Errorf("error = %v, want %v", err, boom)
	}
	if want := []sseEvent{{"", "a"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("events = %q, want %q (the partial event must not be delivered)", got, want)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestSSEReaderNoProgress(t *testing.T) {
	if _, err := readEvents(emptyReader{}, 1024); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("error = %v, want io.ErrNoProgress", err)
	}
}

// loopReader returns stream over and over, in reads of at most n bytes.
type loopReader struct {
	stream []byte
	off, n int
}

func (l *loopReader) Read(p []byte) (int, error) {
	if len(p) > l.n {
		p = p[:l.n]
	}
	k := copy(p, l.stream[l.off:])
	l.off = (l.off + k) % len(l.stream)
	return k, nil
}

// TestSSEReaderAllocs checks that once its buffers have grown the reader
// allocates nothing per event, with events split across reads.
func TestSSEReaderAllocs(t *testing.T) {
	stream := []byte("event: delta\r\ndata: {\"text\":\"Hello\"}\r\n\r\n: keep-alive\n\ndata: line1\ndata: line2\n\n")
	s := NewSSEReader(&loopReader{stream: stream, n: 7}, 1024)
	next := func() {
		if _, _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		next()
	}
	if allocs := testing.AllocsPerRun(100, next); allocs != 0 {
		t.Errorf("Next: %v allocs per event, want 0", allocs)
	}
}

func BenchmarkSSEReader(b *testing.B) {
	stream := testkit.Fixture(b, "openai_tool_calls.sse")
	events, err := readEvents(bytes.NewReader(stream), 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	// The loop reader wraps around, so the reader never sees EOF and one
	// iteration reads the fixture's events once.
	s := NewSSEReader(&loopReader{stream: stream, n: sseReadSize}, 1<<20)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		for range events {
			if _, _, err := s.Next(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
