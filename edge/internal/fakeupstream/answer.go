package fakeupstream

import (
	"net/http"
	"strconv"
)

// Events is a streamed body cut into events: event i is
// Body[Marks[i-1]:Marks[i]] (from 0 for the first). The framing (SSE with
// \n or \r\n, a JSON array, ...) is the fake's.
type Events struct {
	Body  []byte
	Marks []int
}

// EventsOf joins events into one Events.
func EventsOf[T ~string | ~[]byte](events []T) Events {
	var ev Events
	for _, x := range events {
		ev.Body = append(ev.Body, x...)
		ev.Marks = append(ev.Marks, len(ev.Body))
	}
	return ev
}

// Len returns the number of events.
func (ev Events) Len() int { return len(ev.Marks) }

// WriteEvents writes the first n events of ev after the status line and
// headers the caller set, pausing the frame's chunk delay (and flushing)
// between events, and flushes at the end. It reports whether all n were
// delivered; a write failing, or gone closing during a pause, counts an
// abort.
func (e *Epoch) WriteEvents(w http.ResponseWriter, gone <-chan struct{}, status int, ev Events, n int) bool {
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	delay := e.c.chunkDelay
	prev := 0
	for i := 0; i < n; i++ {
		end := ev.Marks[i]
		if _, err := w.Write(ev.Body[prev:end]); err != nil {
			e.Abort()
			return false
		}
		prev = end
		if delay > 0 && i < n-1 {
			if rc.Flush() != nil {
				e.Abort()
				return false
			}
			if !e.Wait(gone, delay) {
				return false
			}
		}
	}
	if rc.Flush() != nil {
		e.Abort()
		return false
	}
	return true
}

// WriteWhole answers status with body and its Content-Length. The caller
// sets Content-Type.
func WriteWhole(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// WriteCut answers status with headers announcing all of body but sends
// only its first half, then closes the connection: a non-streaming answer
// cut mid-way. The caller sets Content-Type.
func WriteCut(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if _, err := w.Write(body[:len(body)/2]); err == nil {
		_ = http.NewResponseController(w).Flush()
	}
	Drop(w)
}

// WriteEventsThenStall writes the first n events of ev like WriteEvents
// and then holds the connection silent (see Stall) before dropping it: a
// stream that stops mid-way.
func (e *Epoch) WriteEventsThenStall(w http.ResponseWriter, gone <-chan struct{}, status int, ev Events, n int) {
	if e.WriteEvents(w, gone, status, ev, n) {
		e.Stall(gone)
	}
	Drop(w)
}

// WriteEndless writes the first n events of ev like WriteEvents and then
// repeat, flushed, again and again until the client leaves (an abort) or
// the epoch ends: a stream without end.
func (e *Epoch) WriteEndless(w http.ResponseWriter, gone <-chan struct{}, status int, ev Events, n int, repeat []byte) {
	if !e.WriteEvents(w, gone, status, ev, n) {
		return
	}
	rc := http.NewResponseController(w)
	for {
		select {
		case <-gone:
			e.Abort()
			return
		case <-e.done:
			return
		default:
		}
		if _, err := w.Write(repeat); err != nil {
			e.Abort()
			return
		}
		if rc.Flush() != nil {
			e.Abort()
			return
		}
	}
}
