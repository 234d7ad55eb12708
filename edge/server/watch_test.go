package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
)

// rawPost sends a chat request on conn as HTTP/1.1 bytes, with no client
// library (and so no goroutines of its own) in between.
func rawPost(t *testing.T, conn net.Conn, body string) {
	t.Helper()
	if _, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "+itoa(len(body))+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
}

// readToFirstEvent reads conn past the response headers to the first SSE
// data line, after which the stream has begun.
func readToFirstEvent(t *testing.T, conn net.Conn) {
	t.Helper()
	br := bufio.NewReader(conn)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data:") {
			return
		}
	}
}

// A stream costs the connection's own goroutine and one worker: not a
// writer goroutine, not a separate watch goroutine. Goroutines are counted
// while every stream is between two chunks, which is when the old design
// ran four per stream.
func TestStreamGoroutines(t *testing.T) {
	const streams = 8
	started := make(chan struct{}, streams)
	base := startServer(t, blockingRouter(started), Options{})
	addr := strings.TrimPrefix(base, "http://")
	before := runtime.NumGoroutine()
	for range streams {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		rawPost(t, conn, `{"model":"chat","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
		readToFirstEvent(t, conn)
		<-started
	}
	// Slack of streams/2: fasthttp's worker pool starts a cleaner goroutine
	// with its first connection, and the runtime may start a worker of its
	// own. The old design ran at least 3 per stream, well above the bound.
	if extra, limit := runtime.NumGoroutine()-before, 2*streams+streams/2; extra > limit {
		t.Errorf("%d streams run %d goroutines, want at most %d", streams, extra, limit)
	}
}

// The watch peeks and consumes nothing: a client that pipelines its next
// request while the first is being worked on gets both answers on the
// same connection.
func TestPipelinedRequestSurvivesWatch(t *testing.T) {
	// A slow upstream (not a synchronisation): each answer takes longer
	// than watchDelay, so the watch runs while the next request waits.
	slow := func(ctx context.Context, req *llm.ChatRequest, st *router.Status, emit func(*llm.Chunk) error) (llm.Usage, error) {
		time.Sleep(2 * watchDelay)
		return replyWords(ctx, req, st, emit)
	}
	base := startServer(t, &fakeRouter{route: slow}, Options{})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stream := range []string{"false", "true"} {
		rawPost(t, conn, `{"model":"chat","stream":`+stream+`,"messages":[{"role":"user","content":"one"}]}`)
		rawPost(t, conn, `{"model":"chat","stream":`+stream+`,"messages":[{"role":"user","content":"two"}]}`)
	}
	br := bufio.NewReader(conn)
	for i := range 4 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.Close {
			t.Fatalf("response %d: status %d close %v err %v: %s", i, resp.StatusCode, resp.Close, err, b)
		}
	}
}
