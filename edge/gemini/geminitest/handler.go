package geminitest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
)

// Messages of Google's error bodies, as the real API words them.
const (
	msgInternal    = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
	msgOverloaded  = "The model is overloaded. Please try again later."
	msgRateLimit   = "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
	msgBadKey      = "API key not valid. Please pass a valid API key."
	msgNoKey       = "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API."
	msgBadJSON     = "Invalid JSON payload received. Unexpected token."
	msgNoContents  = "* GenerateContentRequest.contents: contents is not specified\n"
	msgBadRole     = "Please use a valid role: user, model."
	msgTooLarge    = "Request payload size exceeds the limit: 8388608 bytes."
	msgNotFound    = "Method not found."
	msgBadPage     = "Invalid page token."
	retryDelay     = "1s"
	retryAfterSecs = "1"
	// fakeSignature is the thoughtSignature put on function calls, as
	// Gemini 3 models do; clients must tolerate it.
	fakeSignature = "ZmFrZS1zaWduYXR1cmU="
)

const (
	contentTypeJSON = "application/json; charset=UTF-8"
	contentTypeSSE  = "text/event-stream"
)

// msgTokens is TooManyTokens' message.
var msgTokens = fmt.Sprintf("The input token count (%d) exceeds the maximum number of tokens allowed (%d).", InputTokenLimit+1, InputTokenLimit)

// functionName is what Google accepts as a function name.
var functionName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$`)

// serveHTTP serves one request of epoch e.
func (s *Server) serveHTTP(e *fakeupstream.Epoch, w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1beta")
	if !ok {
		rest, ok = strings.CutPrefix(r.URL.Path, "/v1")
	}
	if !ok {
		writeError(w, 404, "NOT_FOUND", msgNotFound)
		return
	}
	if st, msg, details := s.checkKey(r); st != 0 {
		if st == 403 {
			writeError(w, st, "PERMISSION_DENIED", msg)
		} else {
			writeError(w, st, "INVALID_ARGUMENT", msg, details...)
		}
		return
	}
	switch {
	case rest == "/models" && r.Method == http.MethodGet:
		s.listModels(w, r)
		return
	case strings.HasPrefix(rest, "/models/"):
		name := rest[len("/models/"):]
		modelID, method, isCall := strings.Cut(name, ":")
		switch {
		case !isCall && r.Method == http.MethodGet:
			s.getModel(w, name)
			return
		case isCall && r.Method == http.MethodPost && modelID != "":
			switch method {
			case "generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents":
				s.work(e, w, r, modelID, method)
				return
			}
		}
	}
	writeError(w, 404, "NOT_FOUND", msgNotFound)
}

// checkKey compares the key in x-goog-api-key (or ?key=) with
// Options.APIKey; it returns a status of 0 when the request may proceed.
func (s *Server) checkKey(r *http.Request) (int, string, []any) {
	if s.opt.APIKey == "" {
		return 0, "", nil
	}
	key := r.Header.Get("x-goog-api-key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch key {
	case s.opt.APIKey:
		return 0, "", nil
	case "":
		return 403, msgNoKey, nil
	}
	return 400, msgBadKey, badKeyDetails()
}

func badKeyDetails() []any {
	return []any{
		map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
			"metadata": map[string]string{"service": "generativelanguage.googleapis.com"}},
		map[string]any{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": msgBadKey},
	}
}

func rateLimitDetails(model string) []any {
	return []any{
		map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{
			"quotaMetric":     "generativelanguage.googleapis.com/generate_content_free_tier_requests",
			"quotaId":         "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
			"quotaDimensions": map[string]string{"location": "global", "model": model},
			"quotaValue":      "10",
		}}},
		map[string]any{"@type": "type.googleapis.com/google.rpc.Help", "links": []any{map[string]string{
			"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}}},
		map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retryDelay},
	}
}

// writeError answers with google.rpc.Status in Google's envelope.
func writeError(w http.ResponseWriter, code int, status, message string, details ...any) {
	b, _ := json.Marshal(apiError{Error: rpcStatus{Code: code, Message: message, Status: status, Details: details}})
	w.Header().Set("Content-Type", contentTypeJSON)
	fakeupstream.WriteWhole(w, code, b)
}

func badRequest(w http.ResponseWriter, message string) {
	writeError(w, 400, "INVALID_ARGUMENT", message)
}

// work serves the generate and embed methods, applying the mode.
func (s *Server) work(e *fakeupstream.Epoch, w http.ResponseWriter, r *http.Request, modelID, method string) {
	// Reading to EOF also lets net/http watch the connection, so the
	// request context ends when the client goes away.
	body, err := fakeupstream.ReadBody(r.Body, nil, r.ContentLength, MaxBodyBytes)
	if errors.Is(err, fakeupstream.ErrTooLarge) {
		badRequest(w, msgTooLarge)
		return
	}
	if err != nil {
		return // the client is gone mid-body
	}
	generate := method == "generateContent" || method == "streamGenerateContent"
	if generate {
		fakeupstream.Record(&s.frame, body)
	} else {
		s.embeds.Add(1)
	}
	mode := fakeupstream.Take(&s.frame)
	if !e.Begin(w, r.Context().Done(), int(mode), s.opt.Latency) {
		return
	}
	switch mode {
	case Error500:
		writeError(w, 500, "INTERNAL", msgInternal)
		return
	case Unavailable503:
		writeError(w, 503, "UNAVAILABLE", msgOverloaded)
		return
	case RateLimit429:
		w.Header().Set("Retry-After", retryAfterSecs)
		writeError(w, 429, "RESOURCE_EXHAUSTED", msgRateLimit, rateLimitDetails(modelID)...)
		return
	case TooManyTokens:
		badRequest(w, msgTokens)
		return
	case Unauthorized:
		writeError(w, 400, "INVALID_ARGUMENT", msgBadKey, badKeyDetails()...)
		return
	}
	if s.opt.RejectUnknownModels && !slices.Contains(s.opt.Models, modelID) {
		writeError(w, 404, "NOT_FOUND", "models/"+modelID+" is not found for API version v1beta, or is not supported for "+method+
			". Call ListModels to see the list of available models and their supported methods.")
		return
	}
	switch method {
	case "generateContent":
		s.generate(e, w, r, body, modelID, mode, false, false)
	case "streamGenerateContent":
		s.generate(e, w, r, body, modelID, mode, true, r.URL.Query().Get("alt") == "sse")
	case "embedContent":
		s.embed(w, body, modelID, mode, false)
	case "batchEmbedContents":
		s.embed(w, body, modelID, mode, true)
	}
}

// decodeStrict decodes body into v refusing unknown fields, and answers
// 400 in Google's words when it cannot.
func decodeStrict(w http.ResponseWriter, body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data")
		}
	}
	if err == nil {
		return true
	}
	switch msg := err.Error(); {
	case !json.Valid(body):
		badRequest(w, msgBadJSON)
	case strings.HasPrefix(msg, "json: unknown field "):
		badRequest(w, "Invalid JSON payload received. Unknown name "+strings.TrimPrefix(msg, "json: unknown field ")+": Cannot find field.")
	default:
		badRequest(w, "Invalid JSON payload received. "+msg)
	}
	return false
}

// generate answers generateContent and streamGenerateContent (as SSE when
// sse, else as a JSON array, as the real API does without alt=sse).
func (s *Server) generate(e *fakeupstream.Epoch, w http.ResponseWriter, r *http.Request, body []byte, modelID string, mode Mode, stream, sse bool) {
	var req generateRequest
	if !decodeStrict(w, body, &req) {
		return
	}
	if msg := validateGenerate(&req); msg != "" {
		badRequest(w, msg)
		return
	}
	respID := "fake-" + strconv.FormatUint(s.seq.Add(1), 10)
	prompt := promptTokens(&req)
	var events []generateResponse
	switch {
	case mode == Blocked:
		events = []generateResponse{{
			PromptFeedback: &promptFeedback{BlockReason: "SAFETY", SafetyRatings: []safetyRating{
				{Category: "HARM_CATEGORY_DANGEROUS_CONTENT", Probability: "HIGH", Blocked: true},
				{Category: "HARM_CATEGORY_HARASSMENT", Probability: "NEGLIGIBLE"},
			}},
			UsageMetadata: &usageMetadata{PromptTokenCount: prompt, TotalTokenCount: prompt},
		}}
	case s.opt.FunctionCall != nil && offersFunctions(&req):
		fc := s.opt.FunctionCall
		args := json.RawMessage(`{}`)
		if len(fc.Args) > 0 {
			args = fc.Args
		}
		events = []generateResponse{{
			Candidates: []candidate{{
				Content:      &content{Role: "model", Parts: []part{{FunctionCall: &functionCall{Name: fc.Name, Args: args}, ThoughtSignature: fakeSignature}}},
				FinishReason: "STOP",
			}},
			UsageMetadata: &usageMetadata{PromptTokenCount: prompt, CandidatesTokenCount: 1, TotalTokenCount: prompt + 1},
		}}
	default:
		events = s.textEvents(&req, prompt, stream)
	}
	for i := range events {
		events[i].ModelVersion = modelID
		events[i].ResponseID = respID
	}

	if !stream {
		b, _ := json.Marshal(events[0])
		respond(w, b, mode)
		return
	}
	frames := make([][]byte, len(events))
	for i := range events {
		b, _ := json.Marshal(events[i])
		if sse {
			frames[i] = append(append([]byte("data: "), b...), "\r\n\r\n"...)
			continue
		}
		// Without alt=sse the stream is one JSON array, written as the
		// elements are made.
		prefix := ",\r\n"
		if i == 0 {
			prefix = "["
		}
		frames[i] = append([]byte(prefix), b...)
		if i == len(events)-1 {
			frames[i] = append(frames[i], ']')
		}
	}
	if mode == MalformedJSON {
		if sse {
			frames[0] = []byte("data: {\"candidates\": [{\"content\": \r\n\r\n")
		} else {
			frames[0] = []byte(`[{"candidates": [{"content": `)
		}
	}
	ct := contentTypeSSE
	if !sse {
		ct = contentTypeJSON
	}
	writeStream(e, w, r.Context(), ct, frames, mode)
}

// textEvents splits the reply into the stream's events; a non-streaming
// answer is one event with the whole text. Each piece is one completion
// token. Usage counts are cumulative on every event, as Gemini reports
// them, and the finishReason rides on the last piece.
func (s *Server) textEvents(req *generateRequest, prompt int, stream bool) []generateResponse {
	pieces := fakeupstream.Pieces(s.opt.Reply, s.opt.Chunks)
	finish := "STOP"
	if gc := req.GenerationConfig; gc != nil && gc.MaxOutputTokens != nil && *gc.MaxOutputTokens > 0 && *gc.MaxOutputTokens < len(pieces) {
		pieces = pieces[:*gc.MaxOutputTokens]
		finish = "MAX_TOKENS"
	}
	tokens := len(pieces)
	if !stream {
		pieces = []string{strings.Join(pieces, "")}
	}
	events := make([]generateResponse, len(pieces))
	for i, p := range pieces {
		text := p
		c := candidate{Content: &content{Role: "model", Parts: []part{{Text: &text}}}}
		done := i + 1
		if i == len(pieces)-1 {
			c.FinishReason = finish
			done = tokens
		}
		events[i] = generateResponse{Candidates: []candidate{c},
			UsageMetadata: &usageMetadata{PromptTokenCount: prompt, CandidatesTokenCount: done, TotalTokenCount: prompt + done}}
	}
	return events
}

// offersFunctions reports whether req declares functions and lets the
// model call them.
func offersFunctions(req *generateRequest) bool {
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil && tc.FunctionCallingConfig.Mode == "NONE" {
		return false
	}
	for _, t := range req.Tools {
		if len(t.FunctionDeclarations) > 0 {
			return true
		}
	}
	return false
}

// promptTokens counts the words of every text part of the contents and
// the system instruction.
func promptTokens(req *generateRequest) int {
	n := 0
	count := func(c *content) {
		for _, p := range c.Parts {
			if p.Text != nil {
				n += countWords(*p.Text)
			}
		}
	}
	for i := range req.Contents {
		count(&req.Contents[i])
	}
	if req.SystemInstruction != nil {
		count(req.SystemInstruction)
	}
	return n
}

// validateGenerate checks what the real API checks of a request body and
// returns its message, or "" when the request is acceptable.
func validateGenerate(req *generateRequest) string {
	if len(req.Contents) == 0 {
		return msgNoContents
	}
	for i := range req.Contents {
		c := &req.Contents[i]
		if c.Role != "" && c.Role != "user" && c.Role != "model" {
			return msgBadRole
		}
		if msg := validateParts(fmt.Sprintf("contents[%d]", i), c.Parts); msg != "" {
			return msg
		}
	}
	if si := req.SystemInstruction; si != nil {
		if msg := validateParts("system_instruction", si.Parts); msg != "" {
			return msg
		}
	}
	names := map[string]bool{}
	for i, t := range req.Tools {
		for j, fd := range t.FunctionDeclarations {
			at := fmt.Sprintf("* GenerateContentRequest.tools[%d].function_declarations[%d]", i, j)
			if !functionName.MatchString(fd.Name) {
				return at + ".name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:) or dashes (-), with a maximum length of 64.\n"
			}
			names[fd.Name] = true
			if fd.Parameters != nil {
				if strings.EqualFold(fd.Parameters.Type, "object") && len(fd.Parameters.Properties) == 0 {
					return at + ".parameters.properties: should be non-empty for OBJECT type\n"
				}
				if msg := validateSchema(at+".parameters", fd.Parameters); msg != "" {
					return msg
				}
			}
		}
	}
	if tc := req.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		fcc := tc.FunctionCallingConfig
		switch fcc.Mode {
		case "", "AUTO", "ANY", "NONE", "VALIDATED":
		default:
			return "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"" + fcc.Mode + "\""
		}
		if len(fcc.AllowedFunctionNames) > 0 && fcc.Mode != "ANY" && fcc.Mode != "VALIDATED" {
			return "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: allowed_function_names should only be set when the Function Calling mode is ANY.\n"
		}
		for _, n := range fcc.AllowedFunctionNames {
			if !names[n] {
				return "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: function " + n + " is not declared.\n"
			}
		}
	}
	if gc := req.GenerationConfig; gc != nil {
		if len(gc.StopSequences) > 5 {
			return "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed.\n"
		}
		if gc.ResponseSchema != nil {
			if gc.ResponseMimeType != "application/json" && gc.ResponseMimeType != "text/x.enum" {
				return "* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must be one of ['application/json', 'text/x.enum'] when response_schema is set.\n"
			}
			if msg := validateSchema("* GenerateContentRequest.generation_config.response_schema", gc.ResponseSchema); msg != "" {
				return msg
			}
		}
		if gc.Temperature != nil && (*gc.Temperature < 0 || *gc.Temperature > 2) {
			return "* GenerateContentRequest.generation_config.temperature: must be in [0, 2].\n"
		}
	}
	return ""
}

// validateParts checks that every part holds exactly one kind of data and
// that inline data and signatures are base64.
func validateParts(at string, parts []part) string {
	if len(parts) == 0 {
		return "* GenerateContentRequest." + at + ".parts: contents.parts must not be empty.\n"
	}
	for j, p := range parts {
		where := fmt.Sprintf("* GenerateContentRequest.%s.parts[%d]", at, j)
		n := 0
		for _, set := range []bool{p.Text != nil, p.InlineData != nil, p.FileData != nil, p.FunctionCall != nil,
			p.FunctionResponse != nil, p.ExecutableCode != nil, p.CodeExecutionResult != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return where + ".data: required oneof field 'data' must have one initialized field\n"
		}
		if p.ThoughtSignature != "" && !isBase64(p.ThoughtSignature) {
			return "Invalid value at '" + at + ".parts[" + strconv.Itoa(j) + "].thought_signature' (TYPE_BYTES), Base64 decoding failed"
		}
		switch {
		case p.InlineData != nil:
			if p.InlineData.MimeType == "" {
				return where + ".inline_data.mime_type: mime_type is not specified\n"
			}
			if !isBase64(p.InlineData.Data) {
				return "Invalid value at '" + at + ".parts[" + strconv.Itoa(j) + "].inline_data.data' (TYPE_BYTES), Base64 decoding failed"
			}
		case p.FileData != nil:
			if p.FileData.FileURI == "" {
				return where + ".file_data.file_uri: file_uri is not specified\n"
			}
		case p.FunctionCall != nil:
			if p.FunctionCall.Name == "" {
				return where + ".function_call.name: Name is empty.\n"
			}
			if a := bytes.TrimSpace(p.FunctionCall.Args); len(a) > 0 && a[0] != '{' {
				return "Invalid value at '" + at + ".parts[" + strconv.Itoa(j) + "].function_call.args' (type.googleapis.com/google.protobuf.Struct)"
			}
		case p.FunctionResponse != nil:
			if p.FunctionResponse.Name == "" {
				return where + ".function_response.name: Name is empty.\n"
			}
			if a := bytes.TrimSpace(p.FunctionResponse.Response); len(a) == 0 || a[0] != '{' {
				return "Invalid value at '" + at + ".parts[" + strconv.Itoa(j) + "].function_response.response' (type.googleapis.com/google.protobuf.Struct)"
			}
		}
	}
	return ""
}

func isBase64(s string) bool {
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		return true
	}
	_, err := base64.URLEncoding.DecodeString(s)
	return err == nil
}

// schemaTypes are the Type enum names, compared case-insensitively.
var schemaTypes = []string{"string", "number", "integer", "boolean", "array", "object", "null"}

// validateSchema checks the rules of Gemini's Schema the decoder cannot:
// known types, properties only on objects, items only on arrays, string
// formats limited to enum and date-time.
func validateSchema(at string, sc *schema) string {
	if sc.Type != "" && !slices.Contains(schemaTypes, strings.ToLower(sc.Type)) {
		return "Invalid value at '" + at + ".type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), \"" + sc.Type + "\""
	}
	t := strings.ToLower(sc.Type)
	if len(sc.Properties) > 0 && t != "object" {
		return at + ".properties: only allowed for OBJECT type\n"
	}
	if sc.Items != nil && t != "array" {
		return at + ".items: only allowed for ARRAY type\n"
	}
	if t == "string" && sc.Format != "" && sc.Format != "enum" && sc.Format != "date-time" {
		return at + ".format: only 'enum' and 'date-time' are supported for STRING type\n"
	}
	for _, name := range sc.Required {
		if sc.Properties[name] == nil {
			return at + ".required[" + name + "]: property is not defined\n"
		}
	}
	names := make([]string, 0, len(sc.Properties))
	for name := range sc.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if msg := validateSchema(at+".properties["+name+"]", sc.Properties[name]); msg != "" {
			return msg
		}
	}
	if sc.Items != nil {
		if msg := validateSchema(at+".items", sc.Items); msg != "" {
			return msg
		}
	}
	for i, b := range sc.AnyOf {
		if msg := validateSchema(at+".any_of["+strconv.Itoa(i)+"]", b); msg != "" {
			return msg
		}
	}
	return ""
}

// embed answers embedContent and batchEmbedContents with deterministic
// vectors.
func (s *Server) embed(w http.ResponseWriter, body []byte, modelID string, mode Mode, batch bool) {
	var reqs []embedRequest
	if batch {
		var b batchEmbedRequest
		if !decodeStrict(w, body, &b) {
			return
		}
		switch {
		case len(b.Requests) == 0:
			badRequest(w, "* BatchEmbedContentsRequest.requests: requests is not specified\n")
			return
		case len(b.Requests) > MaxEmbedBatch:
			badRequest(w, "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n")
			return
		}
		for i, r := range b.Requests {
			if r.Model != "models/"+modelID {
				badRequest(w, fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].model: model must be the same as the batch model: models/%s\n", i, modelID))
				return
			}
		}
		reqs = b.Requests
	} else {
		var r embedRequest
		if !decodeStrict(w, body, &r) {
			return
		}
		reqs = []embedRequest{r}
	}
	vecs := make([]embedding, len(reqs))
	for i, r := range reqs {
		if r.Content == nil || len(r.Content.Parts) == 0 {
			badRequest(w, "* EmbedContentRequest.content: contents is not specified\n")
			return
		}
		var text strings.Builder
		for _, p := range r.Content.Parts {
			if p.Text == nil {
				badRequest(w, "* EmbedContentRequest.content.parts: only text parts are supported\n")
				return
			}
			text.WriteString(*p.Text)
		}
		dims := s.opt.EmbeddingDims
		if d := r.OutputDimensionality; d != nil {
			if *d < 1 || *d > MaxEmbeddingDims {
				badRequest(w, fmt.Sprintf("* EmbedContentRequest.output_dimensionality: must be in [1, %d]\n", MaxEmbeddingDims))
				return
			}
			dims = *d
		}
		vecs[i] = embedding{Values: Vector(text.String(), dims)}
	}
	var b []byte
	if batch {
		b, _ = json.Marshal(struct {
			Embeddings []embedding `json:"embeddings"`
		}{vecs})
	} else {
		b, _ = json.Marshal(struct {
			Embedding embedding `json:"embedding"`
		}{vecs[0]})
	}
	respond(w, b, mode)
}

// Vector returns the fake's embedding of text with dims components: a
// unit vector drawn from a generator seeded with the FNV-1a hash of text.
// A shorter vector is a renormalised prefix of a longer one, as Gemini's
// Matryoshka embeddings are. Tests use it to predict answers.
func Vector(text string, dims int) []float32 {
	v := make([]float32, dims)
	if norm := math.Sqrt(fakeupstream.Splitmix(v, fakeupstream.FNV64a(text))); norm > 0 {
		for i := range v {
			v[i] = float32(float64(v[i]) / norm)
		}
	}
	return v
}

// respond sends a whole JSON answer, honouring CutMidStream and
// MalformedJSON.
func respond(w http.ResponseWriter, b []byte, mode Mode) {
	if mode == MalformedJSON {
		b = b[:len(b)/2]
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	if mode == CutMidStream {
		fakeupstream.WriteCut(w, 200, b)
		return
	}
	fakeupstream.WriteWhole(w, 200, b)
}

// writeStream writes frames, pausing ChunkDelay between them. CutMidStream
// sends at most two (never the last) and drops the connection.
func writeStream(e *fakeupstream.Epoch, w http.ResponseWriter, ctx context.Context, contentType string, frames [][]byte, mode Mode) {
	n := len(frames)
	if mode == CutMidStream {
		n = min(2, len(frames)-1)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	if e.WriteEvents(w, ctx.Done(), 200, fakeupstream.EventsOf(frames), n) && mode == CutMidStream {
		fakeupstream.Drop(w)
	}
}

// listModels answers GET /models with pageSize (default 50, at most 1000)
// and pageToken paging.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	size := 50
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			badRequest(w, "Invalid value at 'page_size' (TYPE_INT32), \""+v+"\"")
			return
		}
		if n > 0 {
			size = min(n, 1000)
		}
	}
	start := 0
	if v := q.Get("pageToken"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(s.opt.Models) {
			badRequest(w, msgBadPage)
			return
		}
		start = n
	}
	end := min(start+size, len(s.opt.Models))
	out := listModelsResponse{Models: make([]model, 0, end-start)}
	for _, id := range s.opt.Models[start:end] {
		out.Models = append(out.Models, describe(id))
	}
	if end < len(s.opt.Models) {
		out.NextPageToken = strconv.Itoa(end)
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(b)
}

func (s *Server) getModel(w http.ResponseWriter, id string) {
	if !slices.Contains(s.opt.Models, id) {
		writeError(w, 404, "NOT_FOUND", "models/"+id+" is not found for API version v1beta, or is not supported for get. Call ListModels to see the list of available models and their supported methods.")
		return
	}
	b, _ := json.Marshal(describe(id))
	w.Header().Set("Content-Type", contentTypeJSON)
	_, _ = w.Write(b)
}

// describe renders a model entry; embedding models offer the embedding
// methods, others the generation methods.
func describe(id string) model {
	m := model{
		Name: "models/" + id, BaseModelID: id, Version: "001", DisplayName: id,
		Description: "Fake model served by geminitest.", InputTokenLimit: InputTokenLimit, OutputTokenLimit: 65536,
		SupportedGenerationMethods: []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"},
	}
	if strings.Contains(id, "embedding") {
		m.InputTokenLimit, m.OutputTokenLimit = 2048, 1
		m.SupportedGenerationMethods = []string{"embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"}
	}
	return m
}
