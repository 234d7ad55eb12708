package ollamaapi

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

// RequestError is a client fault found while decoding a request. The
// server answers it with Status and Ollama's error body {"error":Message}
// (see AppendError). Message names the offending field
// ("messages[2].images[0] is not valid base64").
type RequestError struct {
	// Status is the HTTP status to answer with (400).
	Status  int
	Message string
}

func (e *RequestError) Error() string { return e.Message }

func badRequest(msg string) *RequestError {
	return &RequestError{Status: 400, Message: msg}
}

// requestError turns a syntax error from the reader into a RequestError
// and passes RequestErrors through.
func requestError(err error) error {
	var se *wire.SyntaxError
	if errors.As(err, &se) {
		return badRequest(se.Error())
	}
	return err
}

// checkBody rejects an empty body the way Ollama does, and a body that is
// not valid UTF-8, naming the offset: encoding/json would silently replace
// such bytes, and a gateway should not forward text its client did not
// mean.
func checkBody(body []byte) error {
	empty := true
	for _, c := range body {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			empty = false
			break
		}
	}
	if empty {
		return badRequest("missing request body")
	}
	if utf8.Valid(body) {
		return nil
	}
	i := 0
	for i < len(body) {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return badRequest("request body is not valid UTF-8 (byte offset " + strconv.Itoa(i) + ")")
}
