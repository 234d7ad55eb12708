package ollamaapi

import (
	"github.com/edgeway/edgeway/edge/internal/ingress"
)

// dialect words errors as Ollama does, path first and without codes:
// "messages[2].images[0] is not valid base64". The server renders them as
// {"error":Message} (see AppendError).
var dialect = func() ingress.Dialect {
	l := ingress.Plain()
	// Ollama reads options through float64, so an integer written with a
	// fraction loses the fraction rather than being refused.
	l.Fractions = ingress.TruncateFractions
	return l
}()

// functions are Ollama's rules for tools and tool calls: OpenAI's shape,
// read leniently.
var functions = ingress.Functions{MaxTools: MaxTools, Lenient: true}

// checkBody rejects an empty body the way Ollama does, and a body that is
// not valid UTF-8.
func checkBody(body []byte) error {
	for _, c := range body {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return dialect.CheckUTF8(body)
		}
	}
	return ingress.NewError("", "", "missing request body")
}
