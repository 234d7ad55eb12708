package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// dummySignature is the value Google documents for function calls whose
// real thought signature is unknown (history written by another model or
// passed through a client that drops it). Gemini 3 models refuse a
// model turn whose first functionCall part carries no signature.
const dummySignature = "skip_thought_signature_validator"

// appendGenerateRequest appends the GenerateContentRequest body for req:
//
//   - system messages, wherever they stand, become systemInstruction, one
//     text part each;
//   - user messages become role "user", assistant messages role "model",
//     and tool results functionResponse parts in a "user" turn (the role
//     Google's REST examples use); consecutive turns of one role are merged
//     because Gemini wants roles to alternate;
//   - text parts are sent as they are (empty ones are dropped), images as
//     inlineData (data: URLs) or fileData (other URLs, see imagePart);
//   - assistant tool calls become functionCall parts with the arguments as
//     a JSON object; the first one of each model turn carries the
//     dummySignature;
//   - Message.Name, ParallelToolCalls, User and Extra have no Gemini
//     equivalent and are not sent.
//
// Errors are the caller's fault (bad raw JSON, unknown tool-call ids).
func appendGenerateRequest(dst []byte, req *llm.ChatRequest) ([]byte, error) {
	dst = append(dst, `{"contents":[`...)
	w := contentWriter{dst: dst}
	names := make(map[string]string)
	var nsys int
	for i := range req.Messages {
		m := &req.Messages[i]
		switch m.Role {
		case llm.RoleSystem:
			nsys++
		case llm.RoleUser:
			for j := range m.Content {
				if err := w.contentPart("user", &m.Content[j]); err != nil {
					return nil, fmt.Errorf("messages[%d].content[%d]: %w", i, j, err)
				}
			}
		case llm.RoleAssistant:
			for j := range m.Content {
				if err := w.contentPart("model", &m.Content[j]); err != nil {
					return nil, fmt.Errorf("messages[%d].content[%d]: %w", i, j, err)
				}
			}
			for j := range m.ToolCalls {
				tc := &m.ToolCalls[j]
				if tc.Name == "" {
					return nil, fmt.Errorf("messages[%d].tool_calls[%d]: name is empty", i, j)
				}
				w.functionCall(tc)
				if tc.ID != "" {
					names[tc.ID] = tc.Name
				}
			}
		case llm.RoleTool:
			name := names[m.ToolCallID]
			if name == "" {
				name = m.Name
			}
			if name == "" {
				return nil, fmt.Errorf("messages[%d]: tool result for unknown tool call %q", i, m.ToolCallID)
			}
			w.functionResponse(name, m.Text())
		default:
			return nil, fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
	}
	if w.role == "" {
		return nil, errors.New("messages: no user or assistant content")
	}
	dst = append(w.dst, "]}]"...)

	if nsys > 0 {
		dst = append(dst, `,"systemInstruction":{"parts":[`...)
		n := 0
		for i := range req.Messages {
			if m := &req.Messages[i]; m.Role == llm.RoleSystem {
				if t := m.Text(); t != "" {
					if n > 0 {
						dst = append(dst, ',')
					}
					dst = append(dst, `{"text":`...)
					dst = wire.AppendString(dst, t)
					dst = append(dst, '}')
					n++
				}
			}
		}
		if n == 0 {
			dst = append(dst, `{"text":""}`...)
		}
		dst = append(dst, "]}"...)
	}

	var err error
	if len(req.Tools) > 0 {
		if dst, err = appendTools(dst, req.Tools); err != nil {
			return nil, err
		}
	}
	if tc := req.ToolChoice; tc != nil {
		if dst, err = appendToolConfig(dst, tc); err != nil {
			return nil, err
		}
	}
	if dst, err = appendGenerationConfig(dst, req); err != nil {
		return nil, err
	}
	return append(dst, '}'), nil
}

// contentWriter writes the contents array, merging consecutive parts of
// one role into one Content.
type contentWriter struct {
	dst    []byte
	role   string // role of the open Content; "" before the first
	parts  int    // parts in the open Content
	signed bool   // the open Content has its signed functionCall
}

// begin opens a part of role, starting a new Content when the role
// changes.
func (w *contentWriter) begin(role string) {
	if w.role != role {
		if w.role != "" {
			w.dst = append(w.dst, "]},"...)
		}
		w.dst = append(w.dst, `{"role":"`...)
		w.dst = append(w.dst, role...)
		w.dst = append(w.dst, `","parts":[`...)
		w.role, w.parts, w.signed = role, 0, false
	}
	if w.parts > 0 {
		w.dst = append(w.dst, ',')
	}
	w.parts++
}

func (w *contentWriter) contentPart(role string, p *llm.Part) error {
	switch p.Type {
	case llm.PartText:
		if p.Text == "" {
			return nil
		}
		w.begin(role)
		w.dst = append(w.dst, `{"text":`...)
		w.dst = wire.AppendString(w.dst, p.Text)
		w.dst = append(w.dst, '}')
		return nil
	case llm.PartImage:
		// Validate before opening the part so a failure leaves no
		// half-written Content behind (the body is discarded anyway).
		img, err := imagePart(p.ImageURL)
		if err != nil {
			return err
		}
		w.begin(role)
		w.dst = append(w.dst, img...)
		return nil
	}
	return fmt.Errorf("unknown part type %d", p.Type)
}

func (w *contentWriter) functionCall(tc *llm.ToolCall) {
	w.begin("model")
	w.dst = append(w.dst, `{"functionCall":{"name":`...)
	w.dst = wire.AppendString(w.dst, tc.Name)
	w.dst = append(w.dst, `,"args":`...)
	w.dst = appendArgs(w.dst, tc.Arguments)
	w.dst = append(w.dst, '}')
	if !w.signed {
		w.dst = append(w.dst, `,"thoughtSignature":"`+dummySignature+`"`...)
		w.signed = true
	}
	w.dst = append(w.dst, '}')
}

// functionResponse writes a tool result. Gemini wants an object: a result
// that is a JSON object is sent as it is, anything else as
// {"content": text}.
func (w *contentWriter) functionResponse(name, text string) {
	w.begin("user")
	w.dst = append(w.dst, `{"functionResponse":{"name":`...)
	w.dst = wire.AppendString(w.dst, name)
	w.dst = append(w.dst, `,"response":`...)
	if isJSONObject(text) {
		w.dst = append(w.dst, bytes.TrimSpace([]byte(text))...)
	} else {
		w.dst = append(w.dst, `{"content":`...)
		w.dst = wire.AppendString(w.dst, text)
		w.dst = append(w.dst, '}')
	}
	w.dst = append(w.dst, "}}"...)
}

// appendArgs writes tool-call arguments as the object Gemini wants: empty
// is {}, a JSON object is sent as it is, and anything else (models do
// produce invalid arguments, and clients replay them) is wrapped as
// {"arguments": text} rather than failing the whole conversation.
func appendArgs(dst []byte, args string) []byte {
	switch {
	case strings.TrimSpace(args) == "":
		return append(dst, "{}"...)
	case isJSONObject(args):
		return append(dst, strings.TrimSpace(args)...)
	}
	dst = append(dst, `{"arguments":`...)
	dst = wire.AppendString(dst, args)
	return append(dst, '}')
}

// isJSONObject reports whether s is a JSON object that may be copied into
// a request as it is: json.Valid accepts invalid UTF-8 inside strings,
// which would make the whole body invalid, so that is checked too (such
// arguments are sent wrapped, as a string, whose encoder repairs them).
func isJSONObject(s string) bool {
	s = strings.TrimSpace(s)
	return len(s) > 1 && s[0] == '{' && utf8.ValidString(s) && json.Valid([]byte(s))
}

// imagePart renders an image URL as a Part. A data: URL becomes
// inlineData. Any other URL becomes fileData with a MIME type guessed from
// the path's extension: Gemini fetches Files API URIs (and, on recent
// models, public http(s) URLs); other URLs it refuses with 400, which
// the caller sees as a bad request. Edgeway does not download images
// itself: a gateway on a small device should not become a fetch proxy.
func imagePart(u string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		if !ok {
			return nil, errors.New("data URL has no comma")
		}
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if i := strings.IndexByte(mt, ';'); i >= 0 {
			mt = mt[:i] // parameters such as charset
		}
		if mt == "" {
			return nil, errors.New("data URL has no media type")
		}
		if !isB64 {
			raw, err := url.PathUnescape(data)
			if err != nil {
				return nil, fmt.Errorf("data URL: %w", err)
			}
			data = base64.StdEncoding.EncodeToString([]byte(raw))
		}
		b := append([]byte(nil), `{"inlineData":{"mimeType":`...)
		b = wire.AppendString(b, mt)
		b = append(b, `,"data":`...)
		b = wire.AppendString(b, data)
		return append(b, "}}"...), nil
	}
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme == "" {
		return nil, fmt.Errorf("image URL %q: not an absolute URL", truncate(u, 64))
	}
	b := append([]byte(nil), `{"fileData":{`...)
	if mt := mimeByExt[strings.ToLower(path.Ext(pu.Path))]; mt != "" {
		b = append(b, `"mimeType":"`...)
		b = append(b, mt...)
		b = append(b, `",`...)
	}
	b = append(b, `"fileUri":`...)
	b = wire.AppendString(b, u)
	return append(b, "}}"...), nil
}

// mimeByExt guesses the MIME type of a fileData URI from its extension.
// It is a fixed table rather than mime.TypeByExtension, whose answers
// depend on the host's mime.types files.
var mimeByExt = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
	".webp": "image/webp", ".heic": "image/heic", ".heif": "image/heif",
	".gif": "image/gif", ".pdf": "application/pdf",
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// appendTools writes tools:[{functionDeclarations:[...]}] with every
// parameter schema sanitised into Gemini's subset. A function whose
// parameters describe an empty object is declared without parameters.
func appendTools(dst []byte, tools []llm.Tool) ([]byte, error) {
	dst = append(dst, `,"tools":[{"functionDeclarations":[`...)
	for i := range tools {
		t := &tools[i]
		if t.Name == "" {
			return nil, fmt.Errorf("tools[%d]: name is empty", i)
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = upstream.AppendNamed(append(dst, '{'), t.Name, t.Description)
		if len(bytes.TrimSpace(t.Parameters)) > 0 && string(bytes.TrimSpace(t.Parameters)) != "null" {
			schema, _, err := sanitizeSchema(t.Parameters, false)
			if err != nil {
				return nil, fmt.Errorf("tools[%d].parameters: %w", i, err)
			}
			if !isEmptyObject(schema) {
				dst = append(dst, `,"parameters":`...)
				dst = appendValue(dst, schema)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, "]}]"...), nil
}

// appendToolConfig maps ToolChoice onto functionCallingConfig: auto is
// AUTO, none NONE, required ANY, and a named function ANY restricted to
// that name.
func appendToolConfig(dst []byte, tc *llm.ToolChoice) ([]byte, error) {
	dst = append(dst, `,"toolConfig":{"functionCallingConfig":{"mode":`...)
	switch tc.Mode {
	case "auto", "":
		dst = append(dst, `"AUTO"`...)
	case "none":
		dst = append(dst, `"NONE"`...)
	case "required":
		dst = append(dst, `"ANY"`...)
	case "function":
		if tc.Name == "" {
			return nil, errors.New("tool_choice: function name is empty")
		}
		dst = append(dst, `"ANY","allowedFunctionNames":[`...)
		dst = wire.AppendString(dst, tc.Name)
		dst = append(dst, ']')
	default:
		return nil, fmt.Errorf("tool_choice: unknown mode %q", tc.Mode)
	}
	return append(dst, "}}"...), nil
}

// appendGenerationConfig writes generationConfig when req sets any of its
// fields. The seed is an int32 upstream; a wider one is folded into range
// (deterministically) rather than refused.
func appendGenerationConfig(dst []byte, req *llm.ChatRequest) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `,"generationConfig":{`...)
	open := len(dst)
	field := func(name string) {
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `":`...)
	}
	float := func(name string, v *float64) {
		if v != nil {
			field(name)
			dst = wire.AppendFloat(dst, *v, 64)
		}
	}
	float("temperature", req.Temperature)
	float("topP", req.TopP)
	if req.TopK != nil {
		field("topK")
		dst = strconv.AppendInt(dst, int64(*req.TopK), 10)
	}
	if req.MaxTokens != nil {
		field("maxOutputTokens")
		dst = strconv.AppendInt(dst, int64(*req.MaxTokens), 10)
	}
	if len(req.Stop) > 0 {
		field("stopSequences")
		dst = upstream.AppendStrings(dst, req.Stop)
	}
	if req.Seed != nil {
		seed := *req.Seed
		if seed > math.MaxInt32 || seed < math.MinInt32 {
			seed = int64(int32(uint32(seed)))
		}
		field("seed")
		dst = strconv.AppendInt(dst, seed, 10)
	}
	float("presencePenalty", req.PresencePenalty)
	float("frequencyPenalty", req.FrequencyPenalty)
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			field("responseMimeType")
			dst = append(dst, `"application/json"`...)
		case "json_schema":
			field("responseMimeType")
			dst = append(dst, `"application/json"`...)
			if len(bytes.TrimSpace(rf.Schema)) > 0 {
				schema, _, err := sanitizeSchema(rf.Schema, true)
				if err != nil {
					return nil, fmt.Errorf("response_format.json_schema.schema: %w", err)
				}
				if rf.Description != "" && schema.vals["description"] == nil {
					// Gemini has no field for the format's description;
					// the schema's own is where the model reads it.
					schema.set("description", rf.Description)
					sortSchemaKeys(schema)
				}
				field("responseSchema")
				dst = appendValue(dst, schema)
			}
		default:
			return nil, fmt.Errorf("response_format: unknown type %q", rf.Type)
		}
	}
	if len(dst) == open {
		return dst[:start], nil
	}
	return append(dst, '}'), nil
}
