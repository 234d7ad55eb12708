package anthropictest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
)

// Anthropic's error messages, as the real API words them.
const (
	msgOverloaded  = "Overloaded"
	msgAPIError    = "Internal server error"
	msgRateLimit   = "This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later."
	msgPromptLong  = "prompt is too long: 208310 tokens > 200000 maximum"
	msgNoKey       = "x-api-key header is required"
	msgBadKey      = "invalid x-api-key"
	msgNoVersion   = "anthropic-version: header is required"
	msgTooLarge    = "Request exceeds the maximum allowed number of bytes."
	fakeModelDate  = "2025-09-29T00:00:00Z"
	contentTypeSSE = "text/event-stream; charset=utf-8"
)

// serveHTTP serves one request of epoch e.
func (s *Server) serveHTTP(e *fakeupstream.Epoch, w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Request-Id", newRequestID())
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case path == "/v1/messages" && r.Method == http.MethodPost:
		s.messages(e, w, r, false)
	case path == "/v1/messages/count_tokens" && r.Method == http.MethodPost:
		s.messages(e, w, r, true)
	case path == "/v1/models" && r.Method == http.MethodGet:
		if s.authorize(w, r) {
			s.models(w, r)
		}
	case strings.HasPrefix(path, "/v1/models/") && r.Method == http.MethodGet:
		if s.authorize(w, r) {
			s.model(w, strings.TrimPrefix(path, "/v1/models/"))
		}
	default:
		writeError(w, http.StatusNotFound, "not_found_error", "Not Found")
	}
}

// betaOn reports whether the anthropic-beta headers of h turn on beta.
func betaOn(h http.Header, beta string) bool {
	for _, v := range h.Values("Anthropic-Beta") {
		for b := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(b) == beta {
				return true
			}
		}
	}
	return false
}

// writeError answers with Anthropic's error body.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	body := `{"type":"error","error":{"type":` + jstr(typ) + `,"message":` + jstr(msg) + `},"request_id":` + jstr(h.Get("Request-Id")) + `}`
	fakeupstream.WriteWhole(w, status, []byte(body))
}

// authorize checks the key and the anthropic-version header.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	if key := s.opt.APIKey; key != "" {
		got := r.Header.Get("X-Api-Key")
		bearer, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case got == key || hasBearer && bearer == key:
		case got == "" && !hasBearer:
			writeError(w, http.StatusUnauthorized, "authentication_error", msgNoKey)
			return false
		default:
			writeError(w, http.StatusUnauthorized, "authentication_error", msgBadKey)
			return false
		}
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", msgNoVersion)
		return false
	}
	return true
}

// messages serves POST /v1/messages and, with count, count_tokens.
func (s *Server) messages(e *fakeupstream.Epoch, w http.ResponseWriter, r *http.Request, count bool) {
	body, err := fakeupstream.ReadBody(r.Body, nil, r.ContentLength, MaxBodyBytes)
	if errors.Is(err, fakeupstream.ErrTooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", msgTooLarge)
		return
	}
	if err != nil {
		return // the client left mid-body
	}
	if count {
		s.recordCount(body, r.Header)
	} else {
		s.record(body, r.Header)
	}
	if !s.authorize(w, r) {
		return
	}
	mode := fakeupstream.Take(&s.frame)
	if !e.Begin(w, r.Context().Done(), int(mode), s.opt.Latency) {
		return
	}
	switch mode {
	case Error500:
		writeError(w, http.StatusInternalServerError, "api_error", msgAPIError)
		return
	case Overloaded529:
		writeError(w, 529, "overloaded_error", msgOverloaded)
		return
	case RateLimit429:
		rateLimited(w.Header())
		writeError(w, http.StatusTooManyRequests, "rate_limit_error", msgRateLimit)
		return
	case Unauthorized:
		writeError(w, http.StatusUnauthorized, "authentication_error", msgBadKey)
		return
	case PromptTooLong:
		writeError(w, http.StatusBadRequest, "invalid_request_error", msgPromptLong)
		return
	}
	var req messagesRequest
	if v := decodeRequest(body, &req, count, s.opt.ExtraFields, betaOn(r.Header, MidConversationSystemBeta)); v != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", v.message())
		return
	}
	if count {
		writeJSON(w, `{"input_tokens":`+strconv.Itoa(promptWords(&req))+`}`)
		return
	}
	a := s.answer(&req)
	if !req.Stream {
		if mode == OverloadedMidStream {
			writeError(w, 529, "overloaded_error", msgOverloaded)
			return
		}
		whole(w, a, mode)
		return
	}
	stream(e, w, r, a, mode)
}

func writeJSON(w http.ResponseWriter, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	okHeaders(h)
	fakeupstream.WriteWhole(w, http.StatusOK, []byte(body))
}

// okHeaders sets the rate limit headers of an answer within limits.
func okHeaders(h http.Header) {
	reset := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	h.Set("Anthropic-Ratelimit-Requests-Limit", "50")
	h.Set("Anthropic-Ratelimit-Requests-Remaining", "49")
	h.Set("Anthropic-Ratelimit-Requests-Reset", reset)
	h.Set("Anthropic-Ratelimit-Tokens-Limit", "100000")
	h.Set("Anthropic-Ratelimit-Tokens-Remaining", "99000")
	h.Set("Anthropic-Ratelimit-Tokens-Reset", reset)
}

// rateLimited sets the headers of a 429: retry-after and an exhausted
// requests limit.
func rateLimited(h http.Header) {
	now := time.Now().UTC()
	h.Set("Retry-After", "1")
	h.Set("Anthropic-Ratelimit-Requests-Limit", "50")
	h.Set("Anthropic-Ratelimit-Requests-Remaining", "0")
	h.Set("Anthropic-Ratelimit-Requests-Reset", now.Add(RateLimitReset).Format(time.RFC3339))
	h.Set("Anthropic-Ratelimit-Tokens-Limit", "100000")
	h.Set("Anthropic-Ratelimit-Tokens-Remaining", "99000")
	h.Set("Anthropic-Ratelimit-Tokens-Reset", now.Add(time.Minute).Format(time.RFC3339))
}

// answer is what the fake replies to one request.
type answer struct {
	id, model    string
	thinking     string
	signature    string
	redacted     string
	preamble     string   // text block before a tool call
	pieces       []string // text pieces, or tool input pieces
	tool         *ToolUse
	stopReason   string
	stopSequence string
	input        int
	cacheRead    int
	cacheWrite   int
}

// output is the output_tokens count: the pieces sent.
func (a *answer) output() int { return len(a.pieces) }

// answersTool reports whether the last turn carries a tool result.
func answersTool(req *messagesRequest) bool {
	n := len(req.Messages)
	return n > 0 && req.Messages[n-1].Role == "user" && bytes.Contains(req.Messages[n-1].Content, []byte(`"tool_result"`))
}

// offersTools reports whether the request offers tools it may call.
func offersTools(req *messagesRequest) bool {
	return len(req.Tools) > 0 && (req.ToolChoice == nil || req.ToolChoice.Type != "none")
}

func (s *Server) answer(req *messagesRequest) *answer {
	a := &answer{
		id:         newMessageID(),
		model:      *req.Model,
		thinking:   s.opt.Thinking,
		signature:  s.opt.Signature,
		redacted:   s.opt.RedactedThinking,
		input:      promptWords(req),
		cacheRead:  s.opt.CacheReadTokens,
		cacheWrite: s.opt.CacheCreationTokens,
		stopReason: "end_turn",
	}
	if tu := s.opt.ToolUse; tu != nil && offersTools(req) && !(s.opt.AnswerToolResults && answersTool(req)) {
		a.tool, a.preamble, a.stopReason = tu, tu.Preamble, "tool_use"
		a.pieces = fakeupstream.SplitEven(tu.Input, cmp.Or(s.opt.Chunks, defaultToolChunks))
		return a
	}
	reply := s.opt.Reply
	for _, stop := range req.StopSequences {
		if i := strings.Index(reply, stop); stop != "" && i >= 0 {
			reply, a.stopReason, a.stopSequence = reply[:i], "stop_sequence", stop
		}
	}
	a.pieces = fakeupstream.Pieces(reply, s.opt.Chunks)
	if req.MaxTokens != nil && *req.MaxTokens < len(a.pieces) {
		a.pieces, a.stopReason, a.stopSequence = a.pieces[:*req.MaxTokens], "max_tokens", ""
	}
	return a
}

// usage renders a usage object; final adds output_tokens of the whole
// answer, else 1 as message_start reports.
func (a *answer) usage(output int) string {
	return `{"input_tokens":` + strconv.Itoa(a.input) +
		`,"cache_creation_input_tokens":` + strconv.Itoa(a.cacheWrite) +
		`,"cache_read_input_tokens":` + strconv.Itoa(a.cacheRead) +
		`,"cache_creation":{"ephemeral_5m_input_tokens":` + strconv.Itoa(a.cacheWrite) + `,"ephemeral_1h_input_tokens":0}` +
		`,"output_tokens":` + strconv.Itoa(output) + `,"service_tier":"standard"}`
}

func (a *answer) stopSequenceJSON() string {
	if a.stopSequence == "" {
		return "null"
	}
	return jstr(a.stopSequence)
}

// whole answers a non-streaming request with one message object.
func whole(w http.ResponseWriter, a *answer, mode Mode) {
	var content []string
	if a.thinking != "" {
		content = append(content, `{"type":"thinking","thinking":`+jstr(a.thinking)+`,"signature":`+jstr(a.signature)+`}`)
	}
	if a.redacted != "" {
		content = append(content, `{"type":"redacted_thinking","data":`+jstr(a.redacted)+`}`)
	}
	if a.preamble != "" {
		content = append(content, `{"type":"text","text":`+jstr(a.preamble)+`}`)
	}
	joined := strings.Join(a.pieces, "")
	if a.tool != nil {
		content = append(content, `{"type":"tool_use","id":`+jstr(a.tool.ID)+`,"name":`+jstr(a.tool.Name)+`,"input":`+joined+`}`)
	} else {
		content = append(content, `{"type":"text","text":`+jstr(joined)+`}`)
	}
	body := `{"id":` + jstr(a.id) + `,"type":"message","role":"assistant","model":` + jstr(a.model) +
		`,"content":[` + strings.Join(content, ",") + `],"stop_reason":` + jstr(a.stopReason) +
		`,"stop_sequence":` + a.stopSequenceJSON() + `,"usage":` + a.usage(a.output()) + `}`
	switch mode {
	case MalformedJSON:
		writeJSON(w, body[:len(body)/3])
	case CutMidStream:
		w.Header().Set("Content-Type", "application/json")
		fakeupstream.WriteCut(w, http.StatusOK, []byte(body))
	default:
		writeJSON(w, body)
	}
}

// sse formats one event.
func sse(name, data string) string {
	return "event: " + name + "\ndata: " + data + "\n\n"
}

// events renders the SSE events of a streamed answer.
func (a *answer) events() []string {
	ev := []string{sse("message_start", `{"type":"message_start","message":{"id":`+jstr(a.id)+
		`,"type":"message","role":"assistant","model":`+jstr(a.model)+
		`,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`+a.usage(1)+`}}`)}
	idx := 0
	start := func(block string) {
		ev = append(ev, sse("content_block_start", `{"type":"content_block_start","index":`+strconv.Itoa(idx)+`,"content_block":`+block+`}`))
	}
	delta := func(d string) {
		ev = append(ev, sse("content_block_delta", `{"type":"content_block_delta","index":`+strconv.Itoa(idx)+`,"delta":`+d+`}`))
	}
	stop := func() {
		ev = append(ev, sse("content_block_stop", `{"type":"content_block_stop","index":`+strconv.Itoa(idx)+`}`))
		idx++
	}
	if a.thinking != "" {
		start(`{"type":"thinking","thinking":"","signature":""}`)
		for _, p := range fakeupstream.SplitWords(a.thinking) {
			delta(`{"type":"thinking_delta","thinking":` + jstr(p) + `}`)
		}
		delta(`{"type":"signature_delta","signature":` + jstr(a.signature) + `}`)
		stop()
	}
	if a.redacted != "" {
		// A redacted block comes whole in its start event.
		start(`{"type":"redacted_thinking","data":` + jstr(a.redacted) + `}`)
		stop()
	}
	if a.preamble != "" {
		start(`{"type":"text","text":""}`)
		delta(`{"type":"text_delta","text":` + jstr(a.preamble) + `}`)
		stop()
	}
	if a.tool != nil {
		start(`{"type":"tool_use","id":` + jstr(a.tool.ID) + `,"name":` + jstr(a.tool.Name) + `,"input":{}}`)
		ev = append(ev, sse("ping", `{"type": "ping"}`))
		delta(`{"type":"input_json_delta","partial_json":""}`)
		for _, p := range a.pieces {
			delta(`{"type":"input_json_delta","partial_json":` + jstr(p) + `}`)
		}
	} else {
		start(`{"type":"text","text":""}`)
		ev = append(ev, sse("ping", `{"type": "ping"}`))
		for _, p := range a.pieces {
			delta(`{"type":"text_delta","text":` + jstr(p) + `}`)
		}
	}
	stop()
	ev = append(ev,
		sse("message_delta", `{"type":"message_delta","delta":{"stop_reason":`+jstr(a.stopReason)+
			`,"stop_sequence":`+a.stopSequenceJSON()+`},"usage":`+a.usage(a.output())+`}`),
		sse("message_stop", `{"type":"message_stop"}`))
	return ev
}

// stream answers a streaming request, event by event.
func stream(e *fakeupstream.Epoch, w http.ResponseWriter, r *http.Request, a *answer, mode Mode) {
	ev := a.events()
	switch mode {
	case CutMidStream:
		ev = ev[:afterDeltas(ev, 2)]
	case MalformedJSON:
		ev = append(ev[:1:1], "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\n\n")
	case OverloadedMidStream:
		n := afterDeltas(ev, 1)
		ev = append(ev[:n:n], sse("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":`+jstr(w.Header().Get("Request-Id"))+`}`))
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeSSE)
	h.Set("Cache-Control", "no-cache")
	okHeaders(h)
	if e.WriteEvents(w, r.Context().Done(), http.StatusOK, fakeupstream.EventsOf(ev), len(ev)) && mode == CutMidStream {
		fakeupstream.Drop(w)
	}
}

// afterDeltas returns the number of events up to and including the n-th
// content_block_delta.
func afterDeltas(ev []string, n int) int {
	for i, x := range ev {
		if strings.HasPrefix(x, "event: content_block_delta") {
			if n--; n == 0 {
				return i + 1
			}
		}
	}
	return len(ev)
}

// wireModel is one entry of GET /v1/models.
type wireModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

func (s *Server) modelObject(id string) wireModel {
	return wireModel{Type: "model", ID: id, DisplayName: id, CreatedAt: fakeModelDate}
}

// models serves GET /v1/models with Anthropic's pagination: limit
// (1..1000, default 20) and after_id.
func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if fakeupstream.Base(&s.frame) == Refuse {
		fakeupstream.Drop(w)
		return
	}
	q := r.URL.Query()
	limit := 20
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_request_error", "limit: Input should be less than or equal to 1000")
			return
		}
		limit = n
	}
	start := 0
	if after := q.Get("after_id"); after != "" {
		for i, m := range s.opt.Models {
			if m == after {
				start = i + 1
			}
		}
	}
	end := min(start+limit, len(s.opt.Models))
	page := struct {
		Data    []wireModel `json:"data"`
		HasMore bool        `json:"has_more"`
		FirstID *string     `json:"first_id"`
		LastID  *string     `json:"last_id"`
	}{Data: []wireModel{}, HasMore: end < len(s.opt.Models)}
	for _, id := range s.opt.Models[min(start, end):end] {
		page.Data = append(page.Data, s.modelObject(id))
	}
	if len(page.Data) > 0 {
		page.FirstID, page.LastID = &page.Data[0].ID, &page.Data[len(page.Data)-1].ID
	}
	b, _ := json.Marshal(page)
	writeJSON(w, string(b))
}

// model serves GET /v1/models/{id}.
func (s *Server) model(w http.ResponseWriter, id string) {
	for _, m := range s.opt.Models {
		if m == id {
			b, _ := json.Marshal(s.modelObject(id))
			writeJSON(w, string(b))
			return
		}
	}
	writeError(w, http.StatusNotFound, "not_found_error", "model: "+id)
}
