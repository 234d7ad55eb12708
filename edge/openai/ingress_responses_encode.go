package openai

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// ResponseHead is what a response object says about its request: the
// fields the Responses API echoes back.
type ResponseHead struct {
	ID      string
	Created int64
	Model   string
	Req     *llm.ChatRequest
	R       *Responses
}

// Output item ids derive from the response id, so a stream's items and
// the stored response name them alike.
func (h *ResponseHead) itemID(prefix string, i int) string {
	base := strings.TrimPrefix(h.ID, "resp_")
	if i < 0 {
		return prefix + base
	}
	return prefix + base + "_" + strconv.Itoa(i)
}

// AppendResponse appends the response object for a finished (or failed,
// when errMsg is set) answer a: status completed, or incomplete when the
// answer hit its token limit.
func AppendResponse(dst []byte, h *ResponseHead, a *llm.Aggregate, errCode, errMsg string) []byte {
	status := "completed"
	switch {
	case errMsg != "":
		status = "failed"
	case a.FinishReason == llm.FinishLength:
		status = "incomplete"
	}
	return h.appendObject(dst, status, a, errCode, errMsg)
}

// appendObject appends the response object in status; a may be nil (no
// output yet).
func (h *ResponseHead) appendObject(dst []byte, status string, a *llm.Aggregate, errCode, errMsg string) []byte {
	req, r := h.Req, h.R
	dst = append(dst, `{"id":`...)
	dst = wire.AppendString(dst, h.ID)
	dst = append(dst, `,"object":"response","created_at":`...)
	dst = strconv.AppendInt(dst, h.Created, 10)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","background":false,"error":`...)
	if errMsg != "" {
		dst = append(dst, `{"code":`...)
		dst = wire.AppendString(dst, errCode)
		dst = append(dst, `,"message":`...)
		dst = wire.AppendString(dst, errMsg)
		dst = append(dst, '}')
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"incomplete_details":`...)
	if status == "incomplete" {
		dst = append(dst, `{"reason":"max_output_tokens"}`...)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"instructions":`...)
	dst = appendStringOrNull(dst, r.Instructions)
	dst = append(dst, `,"max_output_tokens":`...)
	dst = appendIntOrNull(dst, req.MaxTokens)
	dst = append(dst, `,"model":`...)
	dst = wire.AppendString(dst, h.Model)
	dst = append(dst, `,"output":[`...)
	if a != nil {
		dst = h.appendItems(dst, a)
	}
	dst = append(dst, `],"parallel_tool_calls":`...)
	dst = strconv.AppendBool(dst, req.ParallelToolCalls == nil || *req.ParallelToolCalls)
	dst = append(dst, `,"previous_response_id":`...)
	dst = appendStringOrNull(dst, r.PreviousResponseID)
	dst = append(dst, `,"reasoning":`...)
	dst = appendRawOr(dst, r.Reasoning, `{"effort":null,"summary":null}`)
	dst = append(dst, `,"store":`...)
	dst = strconv.AppendBool(dst, r.Store)
	dst = append(dst, `,"temperature":`...)
	dst = appendFloatOr(dst, req.Temperature, 1)
	dst = append(dst, `,"text":`...)
	dst = appendRawOr(dst, r.Text, `{"format":{"type":"text"}}`)
	dst = append(dst, `,"tool_choice":`...)
	dst = appendRawOr(dst, r.ToolChoice, `"auto"`)
	dst = append(dst, `,"tools":`...)
	dst = appendRawOr(dst, r.Tools, `[]`)
	dst = append(dst, `,"top_p":`...)
	dst = appendFloatOr(dst, req.TopP, 1)
	dst = append(dst, `,"truncation":"disabled","usage":`...)
	if a != nil && status != "in_progress" {
		dst = appendResponsesUsage(dst, a.Usage)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"user":`...)
	dst = appendStringOrNull(dst, req.User)
	dst = append(dst, `,"metadata":`...)
	dst = appendRawOr(dst, r.Metadata, `{}`)
	return append(dst, '}')
}

func appendIntOrNull(dst []byte, v *int) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, int64(*v), 10)
}

func appendFloatOr(dst []byte, v *float64, or float64) []byte {
	if v != nil {
		or = *v
	}
	return wire.AppendFloat(dst, or, 64)
}

func appendRawOr(dst []byte, raw json.RawMessage, or string) []byte {
	if len(raw) == 0 {
		return append(dst, or...)
	}
	return append(dst, raw...)
}

func appendResponsesUsage(dst []byte, u llm.Usage) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"input_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CachedTokens), 10)
	dst = append(dst, `},"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":`...)
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	dst = strconv.AppendInt(dst, int64(total), 10)
	return append(dst, '}')
}

// appendItems appends a's output items: reasoning, the message, then the
// tool calls, in the order a model produces them.
func (h *ResponseHead) appendItems(dst []byte, a *llm.Aggregate) []byte {
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	if a.Reasoning.Len() > 0 {
		sep()
		dst = h.appendReasoning(dst, a.Reasoning.String())
	}
	if a.Text.Len() > 0 || len(a.ToolCalls) == 0 {
		sep()
		dst = h.appendMessage(dst, "completed", a.Text.String(), true)
	}
	for i := range a.ToolCalls {
		sep()
		dst = h.appendCall(dst, i, &a.ToolCalls[i], "completed")
	}
	return dst
}

func (h *ResponseHead) appendReasoning(dst []byte, text string) []byte {
	dst = append(dst, `{"type":"reasoning","id":`...)
	dst = wire.AppendString(dst, h.itemID("rs_", -1))
	dst = append(dst, `,"summary":[],"content":[{"type":"reasoning_text","text":`...)
	dst = wire.AppendString(dst, text)
	return append(dst, `}]}`...)
}

// appendMessage appends the message item; withPart false leaves its
// content empty (as output_item.added has it).
func (h *ResponseHead) appendMessage(dst []byte, status, text string, withPart bool) []byte {
	dst = append(dst, `{"type":"message","id":`...)
	dst = wire.AppendString(dst, h.itemID("msg_", -1))
	dst = append(dst, `,"status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","role":"assistant","content":[`...)
	if withPart {
		dst = appendTextPart(dst, text)
	}
	return append(dst, "]}"...)
}

func appendTextPart(dst []byte, text string) []byte {
	dst = append(dst, `{"type":"output_text","text":`...)
	dst = wire.AppendString(dst, text)
	return append(dst, `,"annotations":[],"logprobs":[]}`...)
}

// callID is the call's id from upstream, or one made up for it.
func (h *ResponseHead) callID(i int, tc *llm.ToolCall) string {
	if tc.ID != "" {
		return tc.ID
	}
	return h.itemID("call_", i)
}

// appendCall appends tool call i as a function_call item, or as a
// custom_tool_call when it calls a custom tool, with the namespace split
// off a namespaced function's name.
func (h *ResponseHead) appendCall(dst []byte, i int, tc *llm.ToolCall, status string) []byte {
	custom := h.R.Custom[tc.Name]
	if custom {
		dst = append(dst, `{"type":"custom_tool_call","id":`...)
		dst = wire.AppendString(dst, h.itemID("ctc_", i))
	} else {
		dst = append(dst, `{"type":"function_call","id":`...)
		dst = wire.AppendString(dst, h.itemID("fc_", i))
	}
	dst = append(dst, `,"call_id":`...)
	dst = wire.AppendString(dst, h.callID(i, tc))
	name := tc.Name
	if ns, ok := h.R.Namespaced[name]; ok {
		dst = append(dst, `,"namespace":`...)
		dst = wire.AppendString(dst, ns[0])
		name = ns[1]
	}
	dst = append(dst, `,"name":`...)
	dst = wire.AppendString(dst, name)
	if custom {
		dst = append(dst, `,"input":`...)
		dst = wire.AppendString(dst, customInput(tc.Arguments))
	} else {
		dst = append(dst, `,"arguments":`...)
		dst = wire.AppendString(dst, tc.Arguments)
	}
	dst = append(dst, `,"status":"`...)
	dst = append(dst, status...)
	return append(dst, `"}`...)
}

// customInput is a custom tool's input back from the arguments of the
// function it was upstream; arguments that are not {"input": string}
// pass as they are.
func customInput(args string) string {
	var v struct {
		Input *string `json:"input"`
	}
	if json.Unmarshal([]byte(args), &v) == nil && v.Input != nil {
		return *v.Input
	}
	return args
}

// ResponsesStream writes a Responses API event stream from canonical
// chunks: every event numbered, each output item opened
// (output_item.added), filled (deltas) and closed (the .done events)
// before the next, and response.completed carrying the whole response.
// The zero value is not usable; call Reset.
type ResponsesStream struct {
	h   *ResponseHead
	seq int
	agg llm.Aggregate
	// open is the item being written: none, reasoning, message, or a tool
	// call (callIdx); out is its output_index.
	open    int
	callIdx int
	out     int
	calls   map[int]int // tool call index → output_index
	callOut []int       // tool call indexes, by first appearance
	closed  map[int]bool
}

const (
	itemNone = iota
	itemReasoning
	itemMessage
	itemCall
)

// Reset starts a stream for h.
func (s *ResponsesStream) Reset(h *ResponseHead) {
	*s = ResponsesStream{h: h, out: -1}
}

// Aggregate is the answer so far.
func (s *ResponsesStream) Aggregate() *llm.Aggregate { return &s.agg }

func (s *ResponsesStream) event(dst []byte, typ string) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, typ...)
	dst = append(dst, `","sequence_number":`...)
	dst = strconv.AppendInt(dst, int64(s.seq), 10)
	s.seq++
	return dst
}

func endEvent(dst []byte) []byte { return append(dst, "}\n\n"...) }

// Start writes response.created and response.in_progress.
func (s *ResponsesStream) Start(dst []byte) []byte {
	for _, typ := range [...]string{"response.created", "response.in_progress"} {
		dst = s.event(dst, typ)
		dst = append(dst, `,"response":`...)
		dst = s.h.appendObject(dst, "in_progress", nil, "", "")
		dst = endEvent(dst)
	}
	return dst
}

func (s *ResponsesStream) itemHead(dst []byte, typ string, out int) []byte {
	dst = s.event(dst, typ)
	dst = append(dst, `,"output_index":`...)
	return strconv.AppendInt(dst, int64(out), 10)
}

func (s *ResponsesStream) partHead(dst []byte, typ, itemID string) []byte {
	dst = s.itemHead(dst, typ, s.out)
	dst = append(dst, `,"item_id":`...)
	dst = wire.AppendString(dst, itemID)
	return append(dst, `,"content_index":0`...)
}

// Chunk writes the events for c.
func (s *ResponsesStream) Chunk(dst []byte, c *llm.Chunk) []byte {
	s.agg.Add(c)
	h := s.h
	if c.Reasoning != "" {
		if s.open != itemReasoning {
			dst = s.close(dst)
			s.open, s.out = itemReasoning, s.out+1
			dst = s.itemHead(dst, "response.output_item.added", s.out)
			dst = append(dst, `,"item":{"type":"reasoning","id":`...)
			dst = wire.AppendString(dst, h.itemID("rs_", -1))
			dst = append(dst, `,"summary":[],"content":[]}`...)
			dst = endEvent(dst)
		}
		dst = s.partHead(dst, "response.reasoning_text.delta", h.itemID("rs_", -1))
		dst = append(dst, `,"delta":`...)
		dst = wire.AppendString(dst, c.Reasoning)
		dst = endEvent(dst)
	}
	if c.Text != "" {
		if s.open != itemMessage {
			dst = s.close(dst)
			s.open, s.out = itemMessage, s.out+1
			dst = s.itemHead(dst, "response.output_item.added", s.out)
			dst = append(dst, `,"item":`...)
			dst = h.appendMessage(dst, "in_progress", "", false)
			dst = endEvent(dst)
			dst = s.partHead(dst, "response.content_part.added", h.itemID("msg_", -1))
			dst = append(dst, `,"part":`...)
			dst = appendTextPart(dst, "")
			dst = endEvent(dst)
		}
		dst = s.partHead(dst, "response.output_text.delta", h.itemID("msg_", -1))
		dst = append(dst, `,"delta":`...)
		dst = wire.AppendString(dst, c.Text)
		dst = append(dst, `,"logprobs":[]`...)
		dst = endEvent(dst)
	}
	for i := range c.ToolCalls {
		dst = s.toolDelta(dst, &c.ToolCalls[i])
	}
	return dst
}

func (s *ResponsesStream) toolDelta(dst []byte, d *llm.ToolCallDelta) []byte {
	idx := s.aggIndex(d)
	out, seen := s.calls[idx]
	if !seen {
		dst = s.close(dst)
		s.open, s.callIdx, s.out = itemCall, idx, s.out+1
		out = s.out
		if s.calls == nil {
			s.calls = map[int]int{}
		}
		s.calls[idx] = out
		s.callOut = append(s.callOut, idx)
		tc := llm.ToolCall{ID: d.ID, Name: d.Name}
		if idx < len(s.agg.ToolCalls) {
			tc.ID, tc.Name = s.agg.ToolCalls[idx].ID, s.agg.ToolCalls[idx].Name
		}
		dst = s.itemHead(dst, "response.output_item.added", out)
		dst = append(dst, `,"item":`...)
		dst = s.h.appendCall(dst, idx, &tc, "in_progress")
		dst = endEvent(dst)
	}
	if d.Arguments == "" || s.h.R.Custom[s.agg.ToolCalls[idx].Name] {
		return dst // a custom tool's input is whole only at the end
	}
	dst = s.itemHead(dst, "response.function_call_arguments.delta", out)
	dst = append(dst, `,"item_id":`...)
	dst = wire.AppendString(dst, s.h.itemID("fc_", idx))
	dst = append(dst, `,"delta":`...)
	dst = wire.AppendString(dst, d.Arguments)
	return endEvent(dst)
}

// aggIndex is the aggregate's index of the call d belongs to (Aggregate
// already added d and chose it).
func (s *ResponsesStream) aggIndex(d *llm.ToolCallDelta) int {
	i := d.Index
	if i < 0 || i >= len(s.agg.ToolCalls) {
		i = len(s.agg.ToolCalls) - 1
	}
	return i
}

// close writes the .done events of the open item.
func (s *ResponsesStream) close(dst []byte) []byte {
	h := s.h
	switch s.open {
	case itemReasoning:
		text := s.agg.Reasoning.String()
		dst = s.partHead(dst, "response.reasoning_text.done", h.itemID("rs_", -1))
		dst = append(dst, `,"text":`...)
		dst = wire.AppendString(dst, text)
		dst = endEvent(dst)
		dst = s.itemHead(dst, "response.output_item.done", s.out)
		dst = append(dst, `,"item":`...)
		dst = h.appendReasoning(dst, text)
		dst = endEvent(dst)
	case itemMessage:
		text := s.agg.Text.String()
		dst = s.partHead(dst, "response.output_text.done", h.itemID("msg_", -1))
		dst = append(dst, `,"text":`...)
		dst = wire.AppendString(dst, text)
		dst = append(dst, `,"logprobs":[]`...)
		dst = endEvent(dst)
		dst = s.partHead(dst, "response.content_part.done", h.itemID("msg_", -1))
		dst = append(dst, `,"part":`...)
		dst = appendTextPart(dst, text)
		dst = endEvent(dst)
		dst = s.itemHead(dst, "response.output_item.done", s.out)
		dst = append(dst, `,"item":`...)
		dst = h.appendMessage(dst, "completed", text, true)
		dst = endEvent(dst)
	case itemCall:
		dst = s.closeCall(dst, s.callIdx)
	}
	s.open = itemNone
	return dst
}

func (s *ResponsesStream) closeCall(dst []byte, idx int) []byte {
	if s.closed == nil {
		s.closed = map[int]bool{}
	}
	s.closed[idx] = true
	tc := &s.agg.ToolCalls[idx]
	out := s.calls[idx]
	if !s.h.R.Custom[tc.Name] {
		dst = s.itemHead(dst, "response.function_call_arguments.done", out)
		dst = append(dst, `,"item_id":`...)
		dst = wire.AppendString(dst, s.h.itemID("fc_", idx))
		dst = append(dst, `,"arguments":`...)
		dst = wire.AppendString(dst, tc.Arguments)
		dst = endEvent(dst)
	}
	dst = s.itemHead(dst, "response.output_item.done", out)
	dst = append(dst, `,"item":`...)
	dst = s.h.appendCall(dst, idx, tc, "completed")
	return endEvent(dst)
}

// End closes what is open and writes response.completed (or
// response.incomplete, when the answer hit its token limit) with usage.
func (s *ResponsesStream) End(dst []byte, u llm.Usage, finish llm.FinishReason) []byte {
	if finish != "" {
		s.agg.FinishReason = finish
	}
	s.agg.Usage = u
	if s.out < 0 {
		// Nothing came: the answer is an empty message, as a whole
		// response would have it.
		s.open, s.out = itemMessage, 0
		dst = s.itemHead(dst, "response.output_item.added", 0)
		dst = append(dst, `,"item":`...)
		dst = s.h.appendMessage(dst, "in_progress", "", false)
		dst = endEvent(dst)
		dst = s.partHead(dst, "response.content_part.added", s.h.itemID("msg_", -1))
		dst = append(dst, `,"part":`...)
		dst = appendTextPart(dst, "")
		dst = endEvent(dst)
	}
	dst = s.close(dst)
	for _, idx := range s.callOut {
		if !s.closed[idx] { // parallel calls written interleaved
			dst = s.closeCall(dst, idx)
		}
	}
	typ := "response.completed"
	if s.agg.FinishReason == llm.FinishLength {
		typ = "response.incomplete"
	}
	dst = s.event(dst, typ)
	dst = append(dst, `,"response":`...)
	dst = AppendResponse(dst, s.h, &s.agg, "", "")
	return endEvent(dst)
}

// Error writes an error event and response.failed, for a failure after
// the stream began: SDKs raise the first, Codex reads the second.
func (s *ResponsesStream) Error(dst []byte, code, message string) []byte {
	dst = s.event(dst, "error")
	dst = append(dst, `,"code":`...)
	dst = wire.AppendString(dst, code)
	dst = append(dst, `,"message":`...)
	dst = wire.AppendString(dst, message)
	dst = append(dst, `,"param":null`...)
	dst = endEvent(dst)
	dst = s.event(dst, "response.failed")
	dst = append(dst, `,"response":`...)
	dst = AppendResponse(dst, s.h, &s.agg, code, message)
	return endEvent(dst)
}
