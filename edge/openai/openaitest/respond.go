package openaitest

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
	"github.com/edgeway/edgeway/edge/internal/wire"
)

// endpoint is what a request path and method resolved to.
type endpoint uint8

const (
	epNotFound endpoint = iota
	epChat
	epEmbeddings
	epModels
	epModel     // GET /v1/models/{id}
	epResponses // POST /v1/responses
)

// routeOf resolves a method and path. modelID is set for epModel.
func routeOf[T string | []byte](method, path T) (ep endpoint, modelID T) {
	const modelsPrefix = "/v1/models/"
	switch {
	case string(path) == "/v1/chat/completions" || string(path) == "/chat/completions":
		if string(method) == "POST" {
			return epChat, modelID
		}
	case string(path) == "/v1/responses" || string(path) == "/responses":
		if string(method) == "POST" {
			return epResponses, modelID
		}
	case string(path) == "/v1/embeddings" || string(path) == "/embeddings":
		if string(method) == "POST" {
			return epEmbeddings, modelID
		}
	case string(path) == "/v1/models" || string(path) == "/models":
		if string(method) == "GET" {
			return epModels, modelID
		}
	case len(path) > len(modelsPrefix) && string(path[:len(modelsPrefix)]) == modelsPrefix:
		if string(method) == "GET" {
			return epModel, path[len(modelsPrefix):]
		}
	}
	return epNotFound, modelID
}

// authState is the outcome of the Authorization check.
type authState uint8

const (
	authOK authState = iota
	authMissing
	authWrong
)

// action tells a frontend how to deliver an exchange.
type action uint8

const (
	// actRespond sends status, headers and body.
	actRespond action = iota
	// actStream sends status and headers, then the SSE events in body
	// (event i ends at marks[i]).
	actStream
	// actStall sends nothing until the client leaves or the server stops.
	actStall
	// actCut sends status and headers, then only the first cut events
	// (when sse) or the first half of body, and closes the connection.
	actCut
	// actDrop closes the connection without a response.
	actDrop
	// actStallAfter sends status, headers and the first cut events, then
	// nothing until the client leaves or the server stops.
	actStallAfter
	// actEndless sends status, headers and the first cut events, then the
	// event at cut-1 again and again until the client leaves.
	actEndless
)

// exchange is one request's scratch and its decided answer. Exchanges are
// pooled: a frontend gets one per request and puts it back when the answer
// is delivered; nothing may keep a reference after that.
type exchange struct {
	act     action
	status  int
	sse     bool
	limited bool // send the exhausted rate-limit headers and retry-after
	delay   bool // wait Options.Latency before the first byte
	cut     int
	start   time.Time
	id      [36]byte // "req_" + 32 hex digits; chat ids reuse the digits
	body    []byte
	marks   []int

	in   []byte // request body (net/http frontend)
	auth []byte // Authorization header value

	chat    chatRequest
	emb     embedRequest
	parts   []contentPart
	inputs  []json.RawMessage
	one     [1]json.RawMessage
	tokens  []int
	vec     []float32
	scratch []byte
}

// Pool bounds: exchanges holding more than this are not pooled.
const maxPooledBody = 1 << 20

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

func getExchange(s *Server) *exchange {
	x := exchangePool.Get().(*exchange)
	x.act, x.status, x.sse, x.limited, x.delay, x.cut = actRespond, 200, false, false, false, 0
	x.start = time.Now()
	x.body = x.body[:0]
	x.marks = x.marks[:0]
	n := s.seq.Add(1)
	copy(x.id[:4], "req_")
	appendHex(x.id[4:4:36], s.seed)
	appendHex(x.id[20:20:36], n)
	return x
}

func putExchange(x *exchange) {
	if cap(x.body) > maxPooledBody || cap(x.scratch) > maxPooledBody || cap(x.in) > maxPooledBody {
		return
	}
	exchangePool.Put(x)
}

// requestID returns the x-request-id value.
func (x *exchange) requestID() []byte { return x.id[:] }

// hexID returns the 32 hex digits shared by the request and completion ids.
func (x *exchange) hexID() []byte { return x.id[4:] }

// Static header values. Keys are in canonical form so net/http frontends can
// assign them to the header map directly.
const (
	contentTypeJSON  = "application/json"
	contentTypeSSE   = "text/event-stream; charset=utf-8"
	openAIVersion    = "2020-10-01"
	rateLimitReqs    = "10000"
	rateLimitTokens  = "10000000"
	remainingReqs    = "9999"
	remainingTokens  = "9999000"
	resetReqs        = "6ms"
	resetTokens      = "6ms"
	limitedRemaining = "0"
	limitedReset     = "1s"
	retryAfter       = "1"
)

// header is one response header.
type header struct{ key, value string }

// staticHeaders returns the headers that do not depend on the request,
// for a normal or a rate-limited answer.
func staticHeaders(limited bool) []header {
	if limited {
		return limitedHeaders
	}
	return normalHeaders
}

var normalHeaders = []header{
	{"Openai-Version", openAIVersion},
	{"X-Ratelimit-Limit-Requests", rateLimitReqs},
	{"X-Ratelimit-Limit-Tokens", rateLimitTokens},
	{"X-Ratelimit-Remaining-Requests", remainingReqs},
	{"X-Ratelimit-Remaining-Tokens", remainingTokens},
	{"X-Ratelimit-Reset-Requests", resetReqs},
	{"X-Ratelimit-Reset-Tokens", resetTokens},
}

var limitedHeaders = []header{
	{"Openai-Version", openAIVersion},
	{"X-Ratelimit-Limit-Requests", rateLimitReqs},
	{"X-Ratelimit-Limit-Tokens", rateLimitTokens},
	{"X-Ratelimit-Remaining-Requests", limitedRemaining},
	{"X-Ratelimit-Remaining-Tokens", remainingTokens},
	{"X-Ratelimit-Reset-Requests", limitedReset},
	{"X-Ratelimit-Reset-Tokens", resetTokens},
	{"Retry-After", retryAfter},
}

func (x *exchange) contentType() string {
	if x.sse {
		return contentTypeSSE
	}
	return contentTypeJSON
}

// processingMS returns the openai-processing-ms value.
func (x *exchange) processingMS() string {
	return strconv.Itoa(int(time.Since(x.start) / time.Millisecond))
}

// appendRawHead appends an HTTP/1.1 status line and headers, for frontends
// that write the response themselves on a hijacked connection.
func (x *exchange) appendRawHead(b []byte, contentLength int) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(x.status), 10)
	b = append(b, ' ')
	b = append(b, statusText(x.status)...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, x.contentType()...)
	b = append(b, "\r\nX-Request-Id: "...)
	b = append(b, x.requestID()...)
	b = append(b, "\r\nOpenai-Processing-Ms: "...)
	b = append(b, x.processingMS()...)
	for _, h := range staticHeaders(x.limited) {
		b = append(b, "\r\n"...)
		b = append(b, h.key...)
		b = append(b, ": "...)
		b = append(b, h.value...)
	}
	if contentLength >= 0 {
		b = append(b, "\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(contentLength), 10)
	} else {
		b = append(b, "\r\nTransfer-Encoding: chunked"...)
	}
	// No "Connection: close": the cut must look like a connection that died,
	// and some clients (undici) take an announced close as the body's end.
	return append(b, "\r\n\r\n"...)
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 404:
		return "Not Found"
	case 413:
		return "Request Entity Too Large"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 503:
		return "Service Unavailable"
	}
	return "Status"
}

// Messages of OpenAI's error bodies, as the real API words them.
const (
	msgServerError = "The server had an error while processing your request. Sorry about that!"
	// msgNoJinja is llama-server's refusal of tools when started without
	// --jinja (oaicompat_chat_params_parse in tools/server).
	msgNoJinja     = "tools param requires --jinja flag"
	msgOverloaded  = "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists."
	msgRateLimit   = "Rate limit reached for requests per min (RPM): Limit 10000, Used 10000, Requested 1. Please try again in 1s. Visit https://platform.openai.com/account/rate-limits to learn more."
	msgContextChat = "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages."
	msgContextEmb  = "This model's maximum context length is 8192 tokens, however you requested 9000 tokens (9000 in your prompt; 0 for the completion). Please reduce your prompt; or completion length."
	msgNoKey       = "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys."
	msgBadJSON     = "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)"
	msgNoModel     = "you must provide a model parameter"
	msgNoMessages  = "Missing required parameter: 'messages'."
	msgNoInput     = "Missing required parameter: 'input'."
	msgBadInput    = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."
	msgTooLarge    = "The request body is too large."
)

// appendError appends {"error":{"message","type","param","code"}}; an empty
// param or code is written as null.
func appendError(b []byte, message, typ, param, code string) []byte {
	b = append(b, `{"error":{"message":`...)
	b = wire.AppendString(b, message)
	b = append(b, `,"type":`...)
	b = wire.AppendString(b, typ)
	b = append(b, `,"param":`...)
	b = appendNullable(b, param)
	b = append(b, `,"code":`...)
	b = appendNullable(b, code)
	return append(b, "}}"...)
}

func appendNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return wire.AppendString(b, s)
}

// precomputed holds the response bytes that depend only on Options.
type precomputed struct {
	pieces    [][]byte // escaped reply pieces, no quotes
	argPieces [][]byte // escaped tool-argument pieces, no quotes
	toolID    []byte   // JSON string
	toolName  []byte   // JSON string
	models    []byte
	model     map[string][]byte

	err500, err503, err429, errContextChat, errContextEmb, errNoKey []byte
	// errNoJinja is llama-server's body, whose shape differs from OpenAI's
	// (a numeric code).
	errNoJinja []byte
}

// fakeCreated is the "created" time of listed models.
const fakeCreated = 1721172741

const fingerprint = `"fp_edgeway_fake"`

func precompute(o *Options) *precomputed {
	w := &precomputed{model: make(map[string][]byte, len(o.Models))}
	for _, p := range fakeupstream.Pieces(o.Reply, o.Chunks) {
		w.pieces = append(w.pieces, escaped(p))
	}
	if tc := o.ToolCall; tc != nil {
		id := tc.ID
		if id == "" {
			id = "call_fake0001"
		}
		w.toolID = wire.AppendString(nil, id)
		w.toolName = wire.AppendString(nil, tc.Name)
		for _, p := range fakeupstream.SplitEven(tc.Arguments, cmp.Or(o.Chunks, defaultToolArgChunks)) {
			w.argPieces = append(w.argPieces, escaped(p))
		}
	}
	w.models = append(w.models, `{"object":"list","data":[`...)
	for i, m := range o.Models {
		if i > 0 {
			w.models = append(w.models, ',')
		}
		obj := appendModel(nil, m)
		w.models = append(w.models, obj...)
		w.model[m] = obj
	}
	w.models = append(w.models, "]}"...)
	w.err500 = appendError(nil, msgServerError, "server_error", "", "")
	w.errNoJinja = []byte(`{"error":{"code":500,"message":"` + msgNoJinja + `","type":"server_error"}}`)
	w.err503 = appendError(nil, msgOverloaded, "server_error", "", "")
	w.err429 = appendError(nil, msgRateLimit, "requests", "", "rate_limit_exceeded")
	w.errContextChat = appendError(nil, msgContextChat, "invalid_request_error", "messages", "context_length_exceeded")
	w.errContextEmb = appendError(nil, msgContextEmb, "invalid_request_error", "input", "context_length_exceeded")
	w.errNoKey = appendError(nil, msgNoKey, "invalid_request_error", "", "")
	return w
}

// escaped returns s escaped as inside a JSON string, without the quotes.
// Escaping goes rune by rune, so the pieces of a string split at rune
// boundaries escape to the pieces of the escaped whole.
func escaped(s string) []byte {
	b := wire.AppendString(nil, s)
	return b[1 : len(b)-1]
}

func appendModel(b []byte, id string) []byte {
	b = append(b, `{"id":`...)
	b = wire.AppendString(b, id)
	b = append(b, `,"object":"model","created":`...)
	b = strconv.AppendInt(b, fakeCreated, 10)
	return append(b, `,"owned_by":"system"}`...)
}

// fail makes x a JSON error answer.
func (x *exchange) fail(status int, body []byte) {
	x.act, x.status, x.sse = actRespond, status, false
	x.body = append(x.body[:0], body...)
}

func (x *exchange) failMsg(status int, message, typ, param, code string) {
	x.act, x.status, x.sse = actRespond, status, false
	x.body = appendError(x.body[:0], message, typ, param, code)
}

// notFound answers an unknown path or method the way OpenAI does.
func (s *Server) notFound(x *exchange, method, path string) {
	x.scratch = append(x.scratch[:0], "Invalid URL ("...)
	x.scratch = append(x.scratch, method...)
	x.scratch = append(x.scratch, ' ')
	x.scratch = append(x.scratch, path...)
	x.scratch = append(x.scratch, ')')
	x.failMsg(404, string(x.scratch), "invalid_request_error", "", "")
}

// tooLarge answers a body over MaxBodyBytes.
func (s *Server) tooLarge(x *exchange) {
	x.failMsg(413, msgTooLarge, "invalid_request_error", "", "")
}

// checkAuth compares an Authorization header value with the expected one.
func (s *Server) checkAuth(got []byte) authState {
	if s.opt.APIKey == "" {
		return authOK
	}
	if len(got) == 0 {
		return authMissing
	}
	const prefix = "Bearer "
	if len(got) == len(prefix)+len(s.opt.APIKey) && string(got[:len(prefix)]) == prefix && string(got[len(prefix):]) == s.opt.APIKey {
		return authOK
	}
	return authWrong
}

// maskKey hides all but the ends of a presented key, as OpenAI's message
// does.
func maskKey(auth string) string {
	key := auth
	if len(key) >= 7 && key[:7] == "Bearer " {
		key = key[7:]
	}
	if len(key) <= 8 {
		return "********"
	}
	return key[:3] + "************" + key[len(key)-4:]
}

func (s *Server) invalidKey(x *exchange, auth string) {
	x.failMsg(401, "Incorrect API key provided: "+maskKey(auth)+". You can find your API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", "", "invalid_api_key")
}

// serve decides the answer to a request for a known endpoint. The frontend
// has copied the Authorization value into x.auth; body is only read during
// the call.
func (s *Server) serve(x *exchange, ep endpoint, body []byte, modelID string) {
	if ep == epChat || ep == epResponses {
		fakeupstream.Record(&s.frame, body)
	}
	switch s.checkAuth(x.auth) {
	case authMissing:
		x.fail(401, s.wire.errNoKey)
		return
	case authWrong:
		s.invalidKey(x, string(x.auth))
		return
	}
	switch ep {
	case epModels:
		x.body = append(x.body[:0], s.wire.models...)
		return
	case epModel:
		if obj, ok := s.wire.model[modelID]; ok {
			x.body = append(x.body[:0], obj...)
			return
		}
		x.failMsg(404, "The model '"+modelID+"' does not exist", "invalid_request_error", "model", "model_not_found")
		return
	}
	mode := fakeupstream.Take(&s.frame)
	x.delay = s.opt.Latency > 0
	switch mode {
	case Refuse:
		x.act = actDrop
		x.delay = false
		return
	case Error500:
		x.fail(500, s.wire.err500)
		return
	case Overloaded503:
		x.fail(503, s.wire.err503)
		return
	case RateLimit429:
		x.limited = true
		x.fail(429, s.wire.err429)
		return
	case Unauthorized:
		s.invalidKey(x, string(x.auth))
		return
	case ContextTooLong:
		if ep == epEmbeddings {
			x.fail(400, s.wire.errContextEmb)
		} else {
			x.fail(400, s.wire.errContextChat)
		}
		return
	case Stall:
		x.act = actStall
		x.delay = false
		return
	}
	switch ep {
	case epEmbeddings:
		s.embeddings(x, body, mode)
		return
	case epResponses:
		s.responses(x, body)
		return
	}
	s.chat(x, body, mode)
}

// badBody answers a body encoding/json rejected.
func badBody(x *exchange, body []byte, err error) {
	if !json.Valid(body) {
		x.failMsg(400, msgBadJSON, "invalid_request_error", "", "")
		return
	}
	x.failMsg(400, "Invalid request body: "+err.Error(), "invalid_request_error", "", "")
}

// decode resets r, decodes body into it and checks the model it names
// (*model, a field of r), answering 400 as OpenAI does when either fails.
func (x *exchange) decode(body []byte, r interface{ reset() }, model *json.RawMessage) bool {
	r.reset()
	if err := json.Unmarshal(body, r); err != nil {
		badBody(x, body, err)
		return false
	}
	if !nonEmptyString(*model) {
		x.failMsg(400, msgNoModel, "invalid_request_error", "", "")
		return false
	}
	return true
}

func toolChoiceNone(raw []byte) bool {
	return string(bytes.TrimSpace(raw)) == `"none"`
}

// chat answers POST /v1/chat/completions in mode OK, CutMidStream or
// MalformedJSON.
func (s *Server) chat(x *exchange, body []byte, mode Mode) {
	r := &x.chat
	if !x.decode(body, r, &r.Model) {
		return
	}
	if len(r.Messages) == 0 {
		x.failMsg(400, msgNoMessages, "invalid_request_error", "messages", "missing_required_parameter")
		return
	}
	if mode == NoJinja && nonEmptyArray(r.Tools) {
		x.fail(500, s.wire.errNoJinja)
		return
	}
	prompt := promptWords(r.Messages, &x.parts)
	w := s.wire
	tool := w.toolID != nil && nonEmptyArray(r.Tools) && !toolChoiceNone(r.ToolChoice) &&
		!(s.opt.AnswerToolResults && string(r.Messages[len(r.Messages)-1].Role) == `"tool"`)
	pieces := w.pieces
	finish := `"stop"`
	if tool {
		pieces = w.argPieces
		finish = `"tool_calls"`
	} else if limit := maxTokens(r); limit > 0 && limit < len(pieces) {
		pieces = pieces[:limit]
		finish = `"length"`
	}
	if mode == MalformedJSON {
		x.sse = r.Stream
		x.body = append(x.body[:0], malformedPrefix(r.Stream)...)
		x.body = append(x.body, x.hexID()...)
		if r.Stream {
			x.body = append(x.body, `","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hel`+"\n\n"...)
			x.marks = append(x.marks, len(x.body))
			x.body = append(x.body, "data: [DONE]\n\n"...)
			x.marks = append(x.marks, len(x.body))
			x.act = actStream
			return
		}
		x.body = append(x.body, `","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hel`...)
		return
	}
	created := time.Now().Unix()
	switch mode {
	case StallMidStream:
		s.chatStream(x, created, prompt, pieces, tool, finish, r.StreamOptions.IncludeUsage)
		x.act, x.cut = actStallAfter, min(3, len(x.marks)-1)
		return
	case Endless:
		s.chatStream(x, created, prompt, pieces, tool, finish, r.StreamOptions.IncludeUsage)
		x.act, x.cut = actEndless, 2 // the role chunk and a content chunk, repeated
		return
	}
	if r.Stream {
		s.chatStream(x, created, prompt, pieces, tool, finish, r.StreamOptions.IncludeUsage)
		x.act = actStream
		if mode == CutMidStream {
			x.act = actCut
			x.cut = 3 // the role chunk and two content chunks
		}
		return
	}
	s.chatCompletion(x, created, prompt, pieces, tool, finish)
	if mode == CutMidStream {
		x.act = actCut
	}
}

// appendEcho appends a JSON string from the request as it came, unless it
// holds invalid UTF-8, which is re-encoded so the answer stays valid.
func appendEcho(b []byte, lit json.RawMessage) []byte {
	if utf8.Valid(lit) {
		return append(b, lit...)
	}
	var s string
	_ = json.Unmarshal(lit, &s)
	return wire.AppendString(b, s)
}

func malformedPrefix(stream bool) string {
	if stream {
		return `data: {"id":"chatcmpl-`
	}
	return `{"id":"chatcmpl-`
}

func maxTokens(r *chatRequest) int {
	if r.MaxCompletionTokens > 0 {
		return r.MaxCompletionTokens
	}
	return r.MaxTokens
}

func appendUsage(b []byte, prompt, completion int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+completion), 10)
	return append(b, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

// chatCompletion renders a chat.completion object into x.body.
func (s *Server) chatCompletion(x *exchange, created int64, prompt int, pieces [][]byte, tool bool, finish string) {
	b := append(x.body[:0], `{"id":"chatcmpl-`...)
	b = append(b, x.hexID()...)
	b = append(b, `","object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendEcho(b, x.chat.Model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if tool {
		b = append(b, `null,"tool_calls":[{"id":`...)
		b = append(b, s.wire.toolID...)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = append(b, s.wire.toolName...)
		b = append(b, `,"arguments":"`...)
		for _, p := range pieces {
			b = append(b, p...)
		}
		b = append(b, `"}}]`...)
	} else {
		b = append(b, '"')
		for _, p := range pieces {
			b = append(b, p...)
		}
		b = append(b, '"')
	}
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":`...)
	b = append(b, finish...)
	b = append(b, `}],"usage":`...)
	b = appendUsage(b, prompt, len(pieces))
	b = append(b, `,"service_tier":"default","system_fingerprint":`+fingerprint+`}`...)
	x.body = b
}

// chatStream renders the SSE events of a streamed completion into x.body,
// marking where each ends.
func (s *Server) chatStream(x *exchange, created int64, prompt int, pieces [][]byte, tool bool, finish string, includeUsage bool) {
	x.sse = true
	p := append(x.scratch[:0], `data: {"id":"chatcmpl-`...)
	p = append(p, x.hexID()...)
	p = append(p, `","object":"chat.completion.chunk","created":`...)
	p = strconv.AppendInt(p, created, 10)
	p = append(p, `,"model":`...)
	p = appendEcho(p, x.chat.Model)
	p = append(p, `,"service_tier":"default","system_fingerprint":`+fingerprint+`,"choices":[`...)
	x.scratch = p
	end := `]}` + "\n\n"
	if includeUsage {
		end = `],"usage":null}` + "\n\n"
	}
	b := x.body[:0]
	// Role chunk.
	b = append(b, p...)
	if tool {
		b = append(b, `{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":`...)
		b = append(b, s.wire.toolID...)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = append(b, s.wire.toolName...)
		b = append(b, `,"arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}`...)
	} else {
		b = append(b, `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`...)
	}
	b = append(b, end...)
	x.marks = append(x.marks, len(b))
	for _, piece := range pieces {
		b = append(b, p...)
		if tool {
			b = append(b, `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"`...)
			b = append(b, piece...)
			b = append(b, `"}}]},"logprobs":null,"finish_reason":null}`...)
		} else {
			b = append(b, `{"index":0,"delta":{"content":"`...)
			b = append(b, piece...)
			b = append(b, `"},"logprobs":null,"finish_reason":null}`...)
		}
		b = append(b, end...)
		x.marks = append(x.marks, len(b))
	}
	b = append(b, p...)
	b = append(b, `{"index":0,"delta":{},"logprobs":null,"finish_reason":`...)
	b = append(b, finish...)
	b = append(b, '}')
	b = append(b, end...)
	x.marks = append(x.marks, len(b))
	if includeUsage {
		b = append(b, p...)
		b = append(b, `],"usage":`...)
		b = appendUsage(b, prompt, len(pieces))
		b = append(b, "}\n\n"...)
		x.marks = append(x.marks, len(b))
	}
	b = append(b, "data: [DONE]\n\n"...)
	x.marks = append(x.marks, len(b))
	x.body = b
}

// embeddings answers POST /v1/embeddings in mode OK, CutMidStream or
// MalformedJSON.
func (s *Server) embeddings(x *exchange, body []byte, mode Mode) {
	r := &x.emb
	if !x.decode(body, r, &r.Model) {
		return
	}
	if isJSONNull(r.Input) {
		x.failMsg(400, msgNoInput, "invalid_request_error", "input", "missing_required_parameter")
		return
	}
	dims := s.opt.EmbeddingDims
	if r.Dimensions != 0 {
		dims = r.Dimensions
	}
	if dims < 1 || dims > MaxEmbeddingDims {
		x.failMsg(400, "Invalid 'dimensions': must be between 1 and "+strconv.Itoa(MaxEmbeddingDims)+".", "invalid_request_error", "dimensions", "invalid_value")
		return
	}
	b64 := false
	switch string(r.EncodingFormat) {
	case "", "null", `"float"`:
	case `"base64"`:
		b64 = true
	default:
		x.failMsg(400, "Invalid value for 'encoding_format': expected 'float' or 'base64'.", "invalid_request_error", "encoding_format", "invalid_value")
		return
	}
	inputs, ok := x.splitInputs(r.Input)
	if !ok {
		x.failMsg(400, msgBadInput, "invalid_request_error", "input", "")
		return
	}
	if mode == MalformedJSON {
		x.body = append(x.body[:0], `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,`...)
		return
	}
	b := append(x.body[:0], `{"object":"list","data":[`...)
	words := 0
	for i, in := range inputs {
		seed, n := x.inputSeed(in)
		words += n
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		x.vector(seed, dims)
		if b64 {
			raw := x.scratch[:0]
			for _, v := range x.vec {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
			}
			x.scratch = raw
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw)
			b = append(b, '"')
		} else {
			b = append(b, '[')
			for j, v := range x.vec {
				if j > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendEcho(b, r.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(words), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(words), 10)
	b = append(b, "}}"...)
	x.body = b
	if mode == CutMidStream {
		x.act = actCut
	}
}

// splitInputs returns the inputs of an embeddings request: each a
// non-empty JSON string or an array of token ids; ok is false for any other
// shape. The result may alias raw, so single inputs go through x.one rather
// than x.inputs, whose elements encoding/json reuses as buffers.
func (x *exchange) splitInputs(raw json.RawMessage) (ins []json.RawMessage, ok bool) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return nil, false
	case raw[0] == '"':
		x.one[0] = raw
		return x.one[:], nonEmptyString(raw)
	case raw[0] != '[':
		return nil, false
	}
	all := x.inputs[:cap(x.inputs)]
	for i := range all {
		all[i] = resetRaw(all[i])
	}
	x.inputs = all[:0]
	if json.Unmarshal(raw, &x.inputs) != nil || len(x.inputs) == 0 || len(x.inputs) > MaxEmbeddingInputs {
		return nil, false
	}
	if c := x.inputs[0][0]; c == '-' || (c >= '0' && c <= '9') {
		// One input given as token ids.
		x.one[0] = raw
		return x.one[:], json.Unmarshal(raw, &x.tokens) == nil
	}
	for _, in := range x.inputs {
		switch in[0] {
		case '"':
			if !nonEmptyString(in) {
				return nil, false
			}
		case '[':
			if json.Unmarshal(in, &x.tokens) != nil || len(x.tokens) == 0 {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return x.inputs, true
}

// inputSeed hashes one input (a string's text, or a token array's JSON) and
// counts its words (or tokens).
func (x *exchange) inputSeed(in json.RawMessage) (seed uint64, words int) {
	if in[0] == '[' {
		if json.Unmarshal(in, &x.tokens) != nil {
			return fakeupstream.FNV64a(in), 0
		}
		return fakeupstream.FNV64a(in), len(x.tokens)
	}
	if bytes.IndexByte(in, '\\') < 0 {
		text := in[1 : len(in)-1]
		return fakeupstream.FNV64a(text), countWords(text)
	}
	var s string
	if json.Unmarshal(in, &s) != nil {
		return fakeupstream.FNV64a(in), 0
	}
	x.scratch = append(x.scratch[:0], s...)
	return fakeupstream.FNV64a(x.scratch), countWords(s)
}

// vector fills x.vec with a unit vector of dims derived from seed.
func (x *exchange) vector(seed uint64, dims int) {
	if cap(x.vec) < dims {
		x.vec = make([]float32, dims)
	}
	x.vec = x.vec[:dims]
	sum := fakeupstream.Splitmix(x.vec, seed)
	if sum == 0 {
		x.vec[0] = 1
		return
	}
	inv := 1 / math.Sqrt(sum)
	for i := range x.vec {
		x.vec[i] = float32(float64(x.vec[i]) * inv)
	}
}
