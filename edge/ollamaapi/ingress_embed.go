package ollamaapi

import (
	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// inputs are Ollama's rules for /api/embed's input. An empty string in
// the array is refused: Ollama would embed it; no other upstream will.
var inputs = ingress.Inputs{Max: MaxEmbedInputs, Empty: "must not be empty", EmptyLoads: true}

// DecodeEmbedRequest parses and validates an /api/embed body into req,
// which it resets first (reusing req.Input's capacity; req keeps no
// reference to body). input is a string or an array of strings; like
// Ollama, an empty string, an empty array or no input at all asks for
// nothing (the model is only loaded) and yields len(req.Input) == 0, to
// be answered with an empty AppendEmbedResponse. dimensions of 0 or less
// means full length, as in Ollama. truncate, options and keep_alive are
// checked and dropped: truncation and model options are the runtime's
// configuration. Errors are *ingress.Error.
func DecodeEmbedRequest(body []byte, req *llm.EmbedRequest) error {
	return decodeEmbed(body, req, false)
}

// DecodeLegacyEmbeddingsRequest parses the deprecated /api/embeddings body
// {"model","prompt"} into req (reset first). An empty prompt is Ollama's
// load request: len(req.Input) == 0, answered with an empty
// AppendLegacyEmbeddingsResponse. options and keep_alive are checked and
// dropped. Errors are *ingress.Error.
func DecodeLegacyEmbeddingsRequest(body []byte, req *llm.EmbedRequest) error {
	return decodeEmbed(body, req, true)
}

// decodeEmbed serves both embeddings bodies: they share model, options
// and keep_alive, and the legacy one has only its prompt besides.
func decodeEmbed(body []byte, req *llm.EmbedRequest, legacy bool) error {
	*req = llm.EmbedRequest{Input: req.Input[:0]}
	if err := checkBody(body); err != nil {
		return err
	}
	var d decoder
	d.Reset(&dialect, body)
	return dialect.Wrap(d.embed(req, legacy))
}

func (d *decoder) embed(req *llm.EmbedRequest, legacy bool) error {
	r := &d.R
	if err := d.OpenBody(); err != nil {
		return err
	}
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "model":
			req.Model, it.Err = d.OptString("model")
		case "options":
			it.Err = d.skipObject("options")
		case "keep_alive":
			it.Err = d.keepAlive()
		default:
			if legacy {
				it.Err = d.legacyMember(it.Key, req)
			} else {
				it.Err = d.embedMember(it.Key, req)
			}
		}
	}
	if err := d.EndBody(it.Err); err != nil {
		return err
	}
	if req.Model == "" {
		return d.Missing("model")
	}
	return nil
}

// embedMember reads a member only /api/embed takes.
func (d *decoder) embedMember(key []byte, req *llm.EmbedRequest) (err error) {
	switch string(key) {
	case "input":
		req.Input, err = d.Inputs(req.Input, &inputs)
	case "dimensions":
		err = d.limit("dimensions", &req.Dimensions)
	case "truncate":
		_, err = d.OptBool("truncate")
	default:
		err = d.R.Skip()
	}
	return err
}

// legacyMember reads a member only /api/embeddings takes: its prompt.
func (d *decoder) legacyMember(key []byte, req *llm.EmbedRequest) error {
	if string(key) != "prompt" {
		return d.R.Skip()
	}
	s, err := d.OptString("prompt")
	if err == nil {
		req.Input = req.Input[:0]
		if s != "" {
			req.Input = append(req.Input, s)
		}
	}
	return err
}

// DecodeShowRequest parses an /api/show body and returns the model it
// asks about: "model", or the deprecated "name" that `ollama run` still
// sends (with an empty "model" beside it). Errors are *ingress.Error.
func DecodeShowRequest(body []byte) (model string, err error) {
	if err := checkBody(body); err != nil {
		return "", err
	}
	var d decoder
	d.Reset(&dialect, body)
	model, err = d.show()
	return model, dialect.Wrap(err)
}

func (d *decoder) show() (string, error) {
	r := &d.R
	if err := d.OpenBody(); err != nil {
		return "", err
	}
	var (
		it          wire.Iter
		model, name string
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "model":
			model, it.Err = d.OptString("model")
		case "name":
			name, it.Err = d.OptString("name")
		case "verbose":
			_, it.Err = d.OptBool("verbose")
		default:
			it.Err = r.Skip()
		}
	}
	if err := d.EndBody(it.Err); err != nil {
		return "", err
	}
	if model == "" {
		model = name
	}
	if model == "" {
		return "", d.Missing("model")
	}
	return model, nil
}
