package upstream

import (
	"context"
	"io"
	"net/http"

	"github.com/edgeway/edgeway/edge/llm"
)

// ChatDecoder is a provider's reader of one chat answer: it turns the
// provider's wire into llm.Chunks passed to emit. Errors from emit are
// returned unchanged; every other failure is an *llm.Error.
type ChatDecoder interface {
	// Event takes one SSE event: its name and its data, never empty.
	// done says the answer is complete; the rest is not read.
	Event(name, data []byte, emit func(*llm.Chunk) error) (done bool, err error)
	// End is called when the stream ends before done, to tell a whole
	// answer from a cut one.
	End(emit func(*llm.Chunk) error) error
	// Whole takes an answer sent as one JSON body: a non-streaming one,
	// or a proxy's that ignored the request to stream.
	Whole(body []byte, emit func(*llm.Chunk) error) error
}

// Chat posts a chat request body to path under the whole-request timeout
// and hands the answer to d: an SSE stream event by event, a JSON answer
// whole. stream says which the request asked for. Canceling ctx aborts
// the upstream request at once.
func (c *Client) Chat(ctx context.Context, path string, body []byte, stream bool, d ChatDecoder, emit func(*llm.Chunk) error) error {
	ctx, cancel := c.WithTimeout(ctx)
	defer cancel()
	accept := "application/json"
	if stream {
		accept = "text/event-stream"
	}
	resp, err := c.Send(ctx, "chat", http.MethodPost, path, body, accept)
	if err != nil {
		return err
	}
	// Closing an unfinished body drops the connection, which is what
	// tells the upstream to stop generating.
	defer resp.Body.Close()
	if IsJSON(resp.Header.Get("Content-Type")) {
		b, err := c.ReadBody(ctx, resp.Body, "chat")
		if err != nil {
			return err
		}
		return d.Whole(b, emit)
	}
	return c.Stream(ctx, resp.Body, d, emit)
}

// Stream reads an SSE body event by event into d until d is done or the
// body ends.
func (c *Client) Stream(ctx context.Context, body io.Reader, d ChatDecoder, emit func(*llm.Chunk) error) error {
	sr := c.SSE(body)
	for {
		name, data, err := sr.Next()
		if err == io.EOF {
			return d.End(emit)
		}
		if err != nil {
			return c.StreamError(ctx, "chat", err)
		}
		if len(data) == 0 {
			continue
		}
		if done, err := d.Event(name, data, emit); done || err != nil {
			return err
		}
	}
}
