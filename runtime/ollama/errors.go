package ollama

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// Errors for requests Ollama cannot take, returned inside an *llm.Error of
// KindBadRequest (errImageURL: KindUnsupported).
var (
	// errImageURL is returned for an image given by http(s) URL.
	errImageURL = errors.New("ollama needs inline images (data: URLs), not image URLs")
	// errImageScheme is returned for an image URL that is neither data: nor http(s).
	errImageScheme = errors.New("image: unsupported URL scheme, want a data: URL")
	// errImageEncoding is returned for a data: URL that is not valid base64.
	errImageEncoding = errors.New("image: data: URL is not base64")
	// errNotObject is returned for tool call arguments that are not a JSON object.
	errNotObject = errors.New("not a JSON object")
)

// statusCanceled is the status Ollama answers when the request's context
// ended before the model was scheduled (nginx's "client closed request").
const statusCanceled = 499

// statusError turns an Ollama error response into an *llm.Error. Ollama
// sends errors as {"error":"..."}; anything else is kept as text.
func (p *Provider) statusError(status int, h http.Header, body []byte) *llm.Error {
	msg := errorMessage(body)
	return &llm.Error{
		Provider:   p.name,
		Status:     status,
		Kind:       classify(status, msg),
		RetryAfter: llm.ParseRetryAfter(h.Get("Retry-After"), time.Now(), maxRetryAfter),
		Message:    msg,
	}
}

// streamError turns an {"error":"..."} line inside a successful stream (a
// runner that failed mid-generation) into an *llm.Error.
func (p *Provider) streamError(msg string) *llm.Error {
	msg = upstream.CleanMessage(msg)
	return &llm.Error{Provider: p.name, Kind: classify(0, msg), Message: msg}
}

// errorMessage extracts the message of an error body, cleaned as every
// provider's is (bounded, credentials redacted).
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return upstream.CleanMessage(e.Error)
	}
	return upstream.CleanMessage(string(body))
}

// classify maps an Ollama status and message to a Kind. status is 0 for an
// error that arrived inside a 200 stream. The message refines the status
// because Ollama reuses 400 and 500 for several conditions:
//
//	404, "model 'x' not found"                     -> KindNotFound
//	"the input length exceeds the context length"  -> KindContextLength
//	503, "server busy, please try again"           -> KindOverloaded
//	499 (Ollama's "request canceled")              -> KindCanceled
//	"... does not support tools" (or vision, chat) -> KindUnsupported
//	other 400s                                     -> KindBadRequest
//	other statuses                                 -> llm.KindForStatus
func classify(status int, msg string) llm.Kind {
	m := strings.ToLower(msg)
	switch {
	case status == http.StatusNotFound:
		return llm.KindNotFound
	case status == statusCanceled:
		return llm.KindCanceled
	case isContextLength(status, m):
		return llm.KindContextLength
	case strings.Contains(m, "model") && strings.Contains(m, "not found"):
		return llm.KindNotFound
	case strings.Contains(m, "server busy"):
		return llm.KindOverloaded
	case strings.Contains(m, "does not support"):
		return llm.KindUnsupported
	case status == 0:
		return llm.KindServer
	}
	return llm.KindForStatus(status)
}

// isContextLength reports whether a lower-cased message says the prompt
// does not fit. A 400 mentioning the context at all counts; other statuses
// need a specific phrase, since "context canceled" and "context deadline
// exceeded" also mention it.
func isContextLength(status int, m string) bool {
	for _, s := range [...]string{"context length", "context window", "context size", "too long"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return status == http.StatusBadRequest && strings.Contains(m, "context") &&
		!strings.Contains(m, "cancel") && !strings.Contains(m, "deadline")
}
