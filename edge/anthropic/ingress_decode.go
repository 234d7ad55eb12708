package anthropic

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// Limits the decoder enforces beyond the body size bound the server sets.
const (
	// MaxTools bounds the tools of one request. Anthropic documents no
	// limit; this keeps a hostile body from building a huge tool table.
	MaxTools = 256
	// MaxStopSequences bounds stop_sequences.
	MaxStopSequences = 64
	// maxToolNameLen is Anthropic's limit on tool names
	// (^[a-zA-Z0-9_-]{1,128}$).
	maxToolNameLen = 128
)

// toolNameRule is Anthropic's wording of the tool name rule.
const toolNameRule = "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"

// ResponseFormatName is the name given to a JSON schema that arrives as
// output_config.format: Anthropic's format has no name, OpenAI's needs one.
const ResponseFormatName = "response"

// RequestError is a client fault found while decoding a request. The
// server renders it as Anthropic error JSON with type
// invalid_request_error (see AppendError).
type RequestError struct {
	// Status is the HTTP status to answer with (400).
	Status int
	// Param names the offending field the way Anthropic does
	// ("messages.1.content.0.type"), or is empty when the fault is not one
	// field's.
	Param string
	// Message is the whole message, starting with Param as Anthropic's do:
	// "messages.1.content.0.type: Field required".
	Message string
}

func (e *RequestError) Error() string { return e.Message }

// fieldError builds a RequestError for param in Anthropic's
// "param: message" form.
func fieldError(param, msg string) *RequestError {
	if param == "" {
		return &RequestError{Status: 400, Message: msg}
	}
	return &RequestError{Status: 400, Param: param, Message: param + ": " + msg}
}

// Pydantic's wording, which Anthropic's validation errors use.
const (
	msgRequired = "Field required"
	msgExtra    = "Extra inputs are not permitted"
	msgString   = "Input should be a valid string"
	msgInt      = "Input should be a valid integer"
	msgNumber   = "Input should be a valid number"
	msgBool     = "Input should be a valid boolean"
	msgList     = "Input should be a valid list"
	msgDict     = "Input should be a valid dictionary"
)

// requestError turns a syntax error from the reader into a RequestError
// and passes RequestErrors through.
func requestError(err error) error {
	var se *wire.SyntaxError
	if errors.As(err, &se) {
		return &RequestError{Status: 400, Message: "There was an error parsing the body of your request: " + se.Error()}
	}
	return err
}

// checkUTF8 rejects a body that is not valid UTF-8, naming the offset: a
// gateway should not forward text its client did not mean.
func checkUTF8(body []byte) error {
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
	return &RequestError{Status: 400, Message: "request body is not valid UTF-8 (byte offset " + strconv.Itoa(i) + ")"}
}

// DecodeMessagesRequest parses and validates a POST /v1/messages body into
// req, which it resets first. It reuses the capacity of req's slices, so
// nothing may still refer to req's previous contents; req keeps no
// reference to body. req.Stream is set from "stream".
//
// The mapping: system becomes a leading RoleSystem message (one text part
// per system block); a user turn's tool_result blocks become RoleTool
// messages in place, splitting the turn around them; tool_use blocks
// become the assistant's ToolCalls with the JSON text of their input;
// thinking and redacted_thinking blocks are dropped (no upstream but
// Anthropic could verify their signatures); an empty final assistant turn
// (a prefill of nothing) is dropped. Unknown top-level fields are refused
// as Anthropic refuses them; unknown fields inside objects are ignored so
// newer clients keep working.
//
// Every error is a *RequestError naming the offending field.
func DecodeMessagesRequest(body []byte, req *llm.ChatRequest) error {
	return decodeRequest(body, req, false)
}

// DecodeCountTokensRequest parses a POST /v1/messages/count_tokens body
// into req the way DecodeMessagesRequest does, except that max_tokens is
// not required. Fields that only steer generation (stream, temperature,
// stop_sequences, ...) are accepted and decoded, so a client may send the
// body it would send to /v1/messages.
func DecodeCountTokensRequest(body []byte, req *llm.ChatRequest) error {
	return decodeRequest(body, req, true)
}

func decodeRequest(body []byte, req *llm.ChatRequest, count bool) error {
	resetChatRequest(req)
	if err := checkUTF8(body); err != nil {
		return err
	}
	d := decoder{req: req, count: count}
	d.r.Reset(body)
	if err := d.decode(); err != nil {
		return requestError(err)
	}
	return nil
}

func resetChatRequest(req *llm.ChatRequest) {
	msgs, stop, tools := req.Messages[:0], req.Stop[:0], req.Tools[:0]
	*req = llm.ChatRequest{Messages: msgs, Stop: stop, Tools: tools}
}

type decoder struct {
	r     wire.Reader
	req   *llm.ChatRequest
	count bool
	// path is the stack of fields being decoded, formatted only when an
	// error names one, so the happy path builds no strings.
	path  [maxPathDepth]pathSeg
	depth int
	// system holds the system prompt until the messages are known, since
	// it may come after them in the body.
	system    []llm.Part
	hasSystem bool
	// img holds base64 image data while its block is decoded.
	img []byte
}

const maxPathDepth = 8

// pathSeg is one field of a parameter path; idx is -1 when not an element.
type pathSeg struct {
	name string
	idx  int
}

func (d *decoder) enter(name string, i int) {
	if d.depth < maxPathDepth {
		d.path[d.depth] = pathSeg{name, i}
	}
	d.depth++
}

func (d *decoder) leave() { d.depth-- }

// param formats the current path followed by field (which may be empty),
// Anthropic style: "messages.1.content.0.type".
func (d *decoder) param(field string) string {
	var b []byte
	for _, s := range d.path[:min(d.depth, maxPathDepth)] {
		if s.name != "" {
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = append(b, s.name...)
		}
		if s.idx >= 0 {
			if len(b) > 0 {
				b = append(b, '.')
			}
			b = strconv.AppendInt(b, int64(s.idx), 10)
		}
	}
	if field != "" {
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, field...)
	}
	return string(b)
}

func (d *decoder) fail(field, msg string) error { return fieldError(d.param(field), msg) }

// wrongType reports that field (relative to the current path) is not of
// the wanted type, unless the value is not even valid JSON.
func (d *decoder) wrongType(field, msg string) error {
	if c := d.r.Peek(); !wire.StartsValue(c) {
		return d.r.Unexpected()
	}
	return d.fail(field, msg)
}

// ignoredFields are documented top-level fields edgeway accepts and does
// not act on: they tune Anthropic's own serving (tiers, regions, prompt
// caching, context editing) or enable features no other upstream has
// (extended thinking). Dropping them keeps a request valid everywhere.
var ignoredFields = map[string]bool{
	"thinking":           true,
	"service_tier":       true,
	"inference_geo":      true,
	"cache_control":      true,
	"speed":              true,
	"context_management": true,
	"diagnostics":        true,
	"container":          true,
}

func (d *decoder) decode() error {
	r, req := &d.r, d.req
	if c := r.Peek(); c != '{' {
		if wire.StartsValue(c) {
			return fieldError("", msgDict)
		}
		return r.Unexpected()
	}
	r.OpenObject()
	var (
		n         int
		hasTokens bool
		hasModel  bool
		hasMsgs   bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "model":
			hasModel = true
			req.Model, err = d.str("model")
		case "max_tokens":
			var v int64
			if v, hasTokens, err = d.integer("max_tokens"); hasTokens && err == nil {
				switch {
				case v < 1:
					err = d.fail("max_tokens", "Input should be greater than or equal to 1")
				case v > 1<<31-1:
					err = d.fail("max_tokens", "Input should be less than or equal to 2147483647")
				default:
					t := int(v)
					req.MaxTokens = &t
				}
			}
		case "messages":
			hasMsgs = true
			err = d.messages()
		case "system":
			err = d.systemPrompt()
		case "stop_sequences":
			err = d.stopSequences()
		case "stream":
			req.Stream, err = d.optBool("stream")
		case "temperature":
			req.Temperature, err = d.optFloat("temperature", 0, 1)
		case "top_p":
			req.TopP, err = d.optFloat("top_p", 0, 1)
		case "top_k":
			var v int64
			var ok bool
			if v, ok, err = d.integer("top_k"); ok && err == nil {
				if v < 0 || v > 1<<31-1 {
					err = d.fail("top_k", "Input should be greater than or equal to 0")
				} else {
					k := int(v)
					req.TopK = &k
				}
			}
		case "tools":
			err = d.tools()
		case "tool_choice":
			err = d.toolChoice()
		case "metadata":
			err = d.metadata()
		case "output_config":
			err = d.outputConfig()
		case "output_format":
			// The beta spelling of output_config.format.
			d.enter("output_format", -1)
			err = d.outputFormat()
			d.leave()
		case "mcp_servers":
			err = d.unsupportedUnlessEmpty("mcp_servers", "the MCP connector is not supported by this gateway")
		default:
			if ignoredFields[string(key)] {
				err = r.Skip()
			} else {
				err = d.fail(string(key), msgExtra)
			}
		}
		if err != nil {
			return err
		}
	}
	if err := r.End(); err != nil {
		return err
	}
	switch {
	case !hasModel || req.Model == "":
		if !hasModel {
			return fieldError("model", msgRequired)
		}
		return fieldError("model", "String should have at least 1 character")
	case !hasTokens && !d.count:
		return fieldError("max_tokens", msgRequired)
	case !hasMsgs:
		return fieldError("messages", msgRequired)
	case len(req.Messages) == 0:
		return fieldError("messages", "at least one message is required")
	case req.ToolChoice != nil && req.ToolChoice.Mode == "function" && !hasTool(req.Tools, req.ToolChoice.Name):
		return fieldError("tool_choice.name", "Tool '"+req.ToolChoice.Name+"' not found in provided tools")
	}
	if d.hasSystem {
		d.prependSystem()
	}
	return nil
}

func hasTool(tools []llm.Tool, name string) bool {
	for i := range tools {
		if tools[i].Name == name {
			return true
		}
	}
	return false
}

// prependSystem puts the system prompt in front of the messages.
func (d *decoder) prependSystem() {
	req := d.req
	req.Messages = append(req.Messages, llm.Message{})
	copy(req.Messages[1:], req.Messages)
	req.Messages[0] = llm.Message{Role: llm.RoleSystem, Content: d.system}
}

// str reads a string; null reads as "".
func (d *decoder) str(field string) (string, error) {
	switch d.r.Peek() {
	case '"':
		return d.r.Str()
	case 'n':
		return "", d.r.Literal("null")
	}
	return "", d.wrongType(field, msgString)
}

// optBool reads a boolean, or null as false.
func (d *decoder) optBool(field string) (bool, error) {
	switch d.r.Peek() {
	case 't', 'f':
		return d.r.Boolean()
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, msgBool)
}

func (d *decoder) optFloat(field string, lo, hi float64) (*float64, error) {
	if null, err := d.r.Null(); null || err != nil {
		return nil, err
	}
	if c := d.r.Peek(); c != '-' && (c < '0' || c > '9') {
		return nil, d.wrongType(field, msgNumber)
	}
	text, _, err := d.r.Number()
	if err != nil {
		return nil, err
	}
	v, err := strconv.ParseFloat(string(text), 64)
	switch {
	case err != nil:
		return nil, d.fail(field, msgNumber)
	case v < lo:
		return nil, d.fail(field, "Input should be greater than or equal to "+strconv.FormatFloat(lo, 'g', -1, 64))
	case v > hi:
		return nil, d.fail(field, "Input should be less than or equal to "+strconv.FormatFloat(hi, 'g', -1, 64))
	}
	return &v, nil
}

// integer reads an integer; present is false for null. An integral
// number written with a fraction ("1024.0") is accepted, as Anthropic's
// validation does.
func (d *decoder) integer(field string) (v int64, present bool, err error) {
	if null, err := d.r.Null(); null || err != nil {
		return 0, false, err
	}
	if c := d.r.Peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false, d.wrongType(field, msgInt)
	}
	text, integer, err := d.r.Number()
	if err != nil {
		return 0, false, err
	}
	if integer {
		v, ok := wire.ParseInt(text)
		if !ok {
			return 0, false, d.fail(field, "Input should be less than or equal to 2147483647")
		}
		return v, true, nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil || f != float64(int64(f)) || f > 1<<53 || f < -(1<<53) {
		return 0, false, d.fail(field, "Input should be a valid integer, got a number with a fractional part")
	}
	return int64(f), true, nil
}

// array consumes '[' of a value that must be an array or null; it reports
// false for null.
func (d *decoder) array(field string) (bool, error) {
	switch d.r.Peek() {
	case '[':
		d.r.OpenArray()
		return true, nil
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, msgList)
}

// object is array's twin for objects.
func (d *decoder) object(field string) (bool, error) {
	switch d.r.Peek() {
	case '{':
		d.r.OpenObject()
		return true, nil
	case 'n':
		return false, d.r.Literal("null")
	}
	return false, d.wrongType(field, msgDict)
}

// unsupportedUnlessEmpty accepts null or an empty array and refuses
// anything else with msg.
func (d *decoder) unsupportedUnlessEmpty(field, msg string) error {
	r := &d.r
	switch r.Peek() {
	case 'n':
		return r.Literal("null")
	case '[':
		start := r.Offset()
		r.OpenArray()
		var n int
		// At the first element ArrNext cannot fail: it only consumes ']'.
		if more, err := r.ArrNext(&n); err != nil || !more {
			return err
		}
		r.Rewind(start)
	}
	if err := r.Skip(); err != nil {
		return err
	}
	return d.fail(field, msg)
}

func (d *decoder) stopSequences() error {
	r, req := &d.r, d.req
	req.Stop = req.Stop[:0]
	ok, err := d.array("stop_sequences")
	if !ok || err != nil {
		req.Stop = nil
		return err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			if len(req.Stop) == 0 {
				req.Stop = nil
			}
			return err
		}
		if len(req.Stop) == MaxStopSequences {
			return fieldError("stop_sequences", "List should have at most "+strconv.Itoa(MaxStopSequences)+" items")
		}
		if r.Peek() != '"' {
			d.enter("stop_sequences", n-1)
			err := d.wrongType("", msgString)
			d.leave()
			return err
		}
		s, err := r.Str()
		if err != nil {
			return err
		}
		req.Stop = append(req.Stop, s)
	}
}

func (d *decoder) metadata() error {
	r := &d.r
	if ok, err := d.object("metadata"); !ok || err != nil {
		return err
	}
	d.enter("metadata", -1)
	defer d.leave()
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		if string(key) == "user_id" {
			d.req.User, err = d.str("user_id")
		} else {
			err = d.fail(string(key), msgExtra)
		}
		if err != nil {
			return err
		}
	}
}

// systemPrompt reads "system": a string or an array of text blocks.
func (d *decoder) systemPrompt() error {
	r := &d.r
	d.system, d.hasSystem = nil, false
	switch r.Peek() {
	case '"':
		s, err := r.Str()
		if err != nil || s == "" {
			return err
		}
		d.system, d.hasSystem = []llm.Part{{Type: llm.PartText, Text: s}}, true
		return nil
	case 'n':
		return r.Literal("null")
	case '[':
	default:
		return d.wrongType("system", msgString)
	}
	r.OpenArray()
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		d.enter("system", n-1)
		var p llm.Part
		kind, err := d.block(&p, nil, nil)
		if err == nil && kind != blockText {
			err = d.tagError(kind, "'text'")
		}
		d.leave()
		if err != nil {
			return err
		}
		if p.Text != "" {
			d.system = append(d.system, p)
		}
	}
	d.hasSystem = len(d.system) > 0
	return nil
}

// messages decodes the messages array, reusing the message slots (and
// their Content and ToolCalls capacity) already in req.Messages.
func (d *decoder) messages() error {
	r := &d.r
	d.req.Messages = d.req.Messages[:0]
	if ok, err := d.array("messages"); !ok || err != nil {
		return err
	}
	var (
		n         int
		lastEmpty = -1 // wire index of the last turn with empty content
		lastRole  llm.Role
	)
	for {
		more, err := r.ArrNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if lastEmpty >= 0 {
			return fieldError("messages."+strconv.Itoa(lastEmpty), "all messages must have non-empty content except for the optional final assistant message")
		}
		d.enter("messages", n-1)
		var empty bool
		lastRole, empty, err = d.message()
		d.leave()
		if err != nil {
			return err
		}
		if empty {
			lastEmpty = n - 1
		}
	}
	if lastEmpty >= 0 && lastRole != llm.RoleAssistant {
		return fieldError("messages."+strconv.Itoa(lastEmpty), "all messages must have non-empty content except for the optional final assistant message")
	}
	return nil
}

// newMessage appends a message slot with role, reusing a slot's capacity
// when one is there, and returns its index.
func (d *decoder) newMessage(role llm.Role) int {
	req := d.req
	i := len(req.Messages)
	if i < cap(req.Messages) {
		req.Messages = req.Messages[:i+1]
		old := &req.Messages[i]
		*old = llm.Message{Role: role, Content: old.Content[:0], ToolCalls: old.ToolCalls[:0]}
	} else {
		req.Messages = append(req.Messages, llm.Message{Role: role})
	}
	return i
}

// message decodes one turn. The role decides how blocks map, and it may
// come after the content, so a first pass finds it and a second decodes.
func (d *decoder) message() (role llm.Role, empty bool, err error) {
	r := &d.r
	if r.Peek() != '{' {
		return "", false, d.wrongType("", msgDict)
	}
	start := r.Offset()
	if role, err = d.messageRole(); err != nil {
		return "", false, err
	}
	r.Rewind(start)
	r.OpenObject()
	var (
		n          int
		hasContent bool
	)
	first := len(d.req.Messages)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return "", false, err
		}
		if !more {
			break
		}
		switch string(key) {
		case "content":
			hasContent = true
			empty, err = d.content(role)
		default:
			// role was read by the first pass; other members (newer
			// per-turn options) are nothing a provider can use.
			err = r.Skip()
		}
		if err != nil {
			return "", false, err
		}
	}
	if !hasContent {
		return "", false, d.fail("content", msgRequired)
	}
	if empty && role == llm.RoleAssistant {
		// An empty assistant turn adds nothing; only the final one is
		// allowed and it is a prefill of nothing.
		d.req.Messages = d.req.Messages[:first]
	}
	return role, empty, nil
}

// messageRole scans a message object for its role without decoding the
// rest; it leaves the reader past the object.
func (d *decoder) messageRole() (llm.Role, error) {
	r := &d.r
	r.OpenObject()
	var (
		n    int
		role llm.Role
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return "", err
		}
		if !more {
			break
		}
		if string(key) != "role" {
			if err := r.Skip(); err != nil {
				return "", err
			}
			continue
		}
		if r.Peek() != '"' {
			return "", d.wrongType("role", "Input should be 'user' or 'assistant'")
		}
		b, err := r.StrBytes()
		if err != nil {
			return "", err
		}
		switch string(b) {
		case "user":
			role = llm.RoleUser
		case "assistant":
			role = llm.RoleAssistant
		default:
			return "", d.fail("role", "Input should be 'user' or 'assistant'")
		}
	}
	if role == "" {
		return "", d.fail("role", msgRequired)
	}
	return role, nil
}

// content decodes a turn's content into canonical messages: a string, or
// an array of blocks. It reports whether the content was empty.
func (d *decoder) content(role llm.Role) (empty bool, err error) {
	r := &d.r
	switch r.Peek() {
	case '"':
		s, err := r.Str()
		if err != nil || s == "" {
			return true, err
		}
		i := d.newMessage(role)
		m := &d.req.Messages[i]
		m.Content = append(m.Content, llm.Part{Type: llm.PartText, Text: s})
		return false, nil
	case '[':
	default:
		return false, d.wrongType("content", msgString)
	}
	r.OpenArray()
	cur := -1 // the message plain blocks go into
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil {
			return false, err
		}
		if !more {
			break
		}
		if cur < 0 {
			cur = d.newMessage(role)
		}
		d.enter("content", n-1)
		cur, err = d.contentBlock(role, cur)
		d.leave()
		if err != nil {
			return false, err
		}
	}
	if cur >= 0 {
		if m := &d.req.Messages[cur]; len(m.Content) == 0 && len(m.ToolCalls) == 0 {
			// Only skipped blocks: nothing to send.
			d.req.Messages = d.req.Messages[:cur]
		}
	}
	return n == 0, nil
}

// contentBlock decodes one block of a turn into the message at cur and
// returns the message the next block goes into (-1 for a new one).
func (d *decoder) contentBlock(role llm.Role, cur int) (int, error) {
	var (
		p    llm.Part
		tc   llm.ToolCall
		tr   toolResult
		kind blockKind
		err  error
	)
	if role == llm.RoleAssistant {
		kind, err = d.block(&p, &tc, nil)
	} else {
		kind, err = d.block(&p, nil, &tr)
	}
	if err != nil {
		return cur, err
	}
	m := &d.req.Messages[cur]
	switch kind {
	case blockText:
		if len(m.ToolCalls) > 0 {
			// Text after a call: a canonical message holds its text
			// before its calls, so the order is kept by starting a new
			// assistant message.
			cur = d.newMessage(role)
			m = &d.req.Messages[cur]
		}
		m.Content = append(m.Content, p)
	case blockImage:
		if role != llm.RoleUser {
			return cur, d.fail("", "image blocks are only allowed in user messages")
		}
		m.Content = append(m.Content, p)
	case blockToolUse:
		m.ToolCalls = append(m.ToolCalls, tc)
	case blockToolResult:
		// A result is its own RoleTool message, in place: the plain
		// blocks before it stay in the message before it.
		if len(m.Content) == 0 && len(m.ToolCalls) == 0 {
			d.req.Messages = d.req.Messages[:cur]
		}
		t := d.newMessage(llm.RoleTool)
		tm := &d.req.Messages[t]
		tm.ToolCallID, tm.Content = tr.id, append(tm.Content, tr.parts...)
		return -1, nil
	}
	return cur, nil
}

// blockKind says what a content block decoded to.
type blockKind uint8

const (
	blockText blockKind = iota
	blockImage
	blockToolUse
	blockToolResult
	blockSkipped // thinking, redacted_thinking
)

// blockTags are the block types a request may carry, for the tag error.
var blockTags = [...]string{
	blockText:       "'text'",
	blockImage:      "'image'",
	blockToolUse:    "'tool_use'",
	blockToolResult: "'tool_result'",
	blockSkipped:    "'thinking'",
}

// tagError reports a block whose type is not allowed where it is.
func (d *decoder) tagError(kind blockKind, want string) error {
	return d.fail("type", "Input tag "+blockTags[kind]+" found using 'type' does not match any of the expected tags: "+want)
}

// toolResult is a decoded tool_result block.
type toolResult struct {
	id    string
	parts []llm.Part
}

// unsupportedBlocks are documented block types edgeway cannot carry to
// other upstreams; they are refused by name rather than dropped.
var unsupportedBlocks = map[string]bool{
	"document": true, "search_result": true, "server_tool_use": true,
	"web_search_tool_result": true, "web_fetch_tool_result": true,
	"code_execution_tool_result": true, "bash_code_execution_tool_result": true,
	"text_editor_code_execution_tool_result": true, "mcp_tool_use": true,
	"mcp_tool_result": true, "container_upload": true, "tool_search_tool_result": true,
}

// block decodes one content block. tc is nil where tool_use is not
// allowed, tr where tool_result is not.
func (d *decoder) block(p *llm.Part, tc *llm.ToolCall, tr *toolResult) (blockKind, error) {
	r := &d.r
	if r.Peek() != '{' {
		return 0, d.wrongType("", msgDict)
	}
	start := r.Offset()
	kind, err := d.blockType()
	if err != nil {
		return 0, err
	}
	switch {
	case kind == blockToolUse && tc == nil:
		return 0, d.tagError(kind, "'text', 'image', 'tool_result'")
	case kind == blockToolResult && tr == nil:
		return 0, d.tagError(kind, "'text', 'tool_use', 'thinking', 'redacted_thinking'")
	}
	r.Rewind(start)
	r.OpenObject()
	switch kind {
	case blockText:
		err = d.textBlock(p)
	case blockImage:
		err = d.imageBlock(p)
	case blockToolUse:
		err = d.toolUseBlock(tc)
	case blockToolResult:
		err = d.toolResultBlock(tr)
	default:
		err = d.skipMembers()
	}
	return kind, err
}

// blockType scans a block object for its "type" without decoding the
// rest; it leaves the reader past the object.
func (d *decoder) blockType() (blockKind, error) {
	r := &d.r
	r.OpenObject()
	var (
		n       int
		kind    blockKind
		hasType bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
		if string(key) != "type" {
			if err := r.Skip(); err != nil {
				return 0, err
			}
			continue
		}
		if r.Peek() != '"' {
			return 0, d.wrongType("type", msgString)
		}
		b, err := r.StrBytes()
		if err != nil {
			return 0, err
		}
		hasType = true
		switch string(b) {
		case "text":
			kind = blockText
		case "image":
			kind = blockImage
		case "tool_use":
			kind = blockToolUse
		case "tool_result":
			kind = blockToolResult
		case "thinking", "redacted_thinking":
			kind = blockSkipped
		default:
			if unsupportedBlocks[string(b)] {
				return 0, d.fail("type", "'"+string(b)+"' blocks are not supported by this gateway")
			}
			return 0, d.fail("type", "Input tag '"+string(b)+"' found using 'type' does not match any of the expected tags: 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'")
		}
	}
	if !hasType {
		return 0, d.fail("type", msgRequired)
	}
	return kind, nil
}

// skipMembers skips the rest of an object whose '{' was consumed.
func (d *decoder) skipMembers() error {
	var n int
	for {
		_, more, err := d.r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		if err := d.r.Skip(); err != nil {
			return err
		}
	}
}

func (d *decoder) textBlock(p *llm.Part) error {
	r := &d.r
	var (
		n       int
		hasText bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if string(key) == "text" {
			if r.Peek() != '"' {
				return d.wrongType("text", msgString)
			}
			hasText = true
			p.Text, err = r.Str()
		} else {
			// type (known), cache_control, citations.
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case !hasText:
		return d.fail("text", msgRequired)
	case p.Text == "":
		return d.fail("text", "text content blocks must be non-empty")
	}
	p.Type = llm.PartText
	return nil
}

// Image media types Anthropic accepts.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// imageBlock reads {"type":"image","source":{...}} into a part whose
// ImageURL is the URL or a data: URL built from base64 data.
func (d *decoder) imageBlock(p *llm.Part) error {
	r := &d.r
	var (
		n         int
		hasSource bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		if string(key) == "source" {
			hasSource = true
			d.enter("source", -1)
			err = d.imageSource(p)
			d.leave()
		} else {
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	if !hasSource {
		return d.fail("source", msgRequired)
	}
	p.Type = llm.PartImage
	return nil
}

func (d *decoder) imageSource(p *llm.Part) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", msgDict)
	}
	r.OpenObject()
	var (
		n               int
		typ, media, url string
		hasData, hasURL bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "type":
			typ, err = d.str("type")
		case "media_type":
			media, err = d.str("media_type")
		case "data":
			if r.Peek() != '"' {
				return d.wrongType("data", msgString)
			}
			hasData = true
			// Kept as bytes until media_type is known (it may come
			// later), so the data: URL is built with one copy.
			var b []byte
			if b, err = r.StrBytes(); err == nil {
				d.img = append(d.img[:0], b...)
			}
		case "url":
			hasURL = true
			url, err = d.str("url")
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch typ {
	case "base64":
		switch {
		case media == "":
			return d.fail("media_type", msgRequired)
		case !imageTypes[media]:
			return d.fail("media_type", "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
		case !hasData:
			return d.fail("data", msgRequired)
		case !validBase64(d.img):
			return d.fail("data", "image data is not valid base64")
		}
		p.ImageURL = "data:" + media + ";base64," + string(d.img)
	case "url":
		if !hasURL || url == "" {
			return d.fail("url", msgRequired)
		}
		if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
			return d.fail("url", "must be an http or https URL")
		}
		p.ImageURL = url
	case "file":
		return d.fail("type", "file sources are not supported by this gateway")
	case "":
		return d.fail("type", msgRequired)
	default:
		return d.fail("type", "Input tag '"+typ+"' found using 'type' does not match any of the expected tags: 'base64', 'url'")
	}
	return nil
}

// validBase64 reports whether b is standard base64, padded or not. It
// checks the alphabet and length rather than decoding, which would need
// a buffer the size of the image.
func validBase64(b []byte) bool {
	n := len(b)
	for n > 0 && len(b)-n < 2 && b[n-1] == '=' {
		n--
	}
	if n == 0 || n%4 == 1 || (n < len(b) && len(b)%4 != 0) {
		return false
	}
	for _, c := range b[:n] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

func (d *decoder) toolUseBlock(tc *llm.ToolCall) error {
	r := &d.r
	var (
		n        int
		hasInput bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "id":
			tc.ID, err = d.str("id")
		case "name":
			tc.Name, err = d.str("name")
		case "input":
			if r.Peek() != '{' {
				return d.wrongType("input", msgDict)
			}
			hasInput = true
			var raw []byte
			if raw, err = r.Raw(); err == nil {
				tc.Arguments = string(raw)
			}
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case tc.ID == "":
		return d.fail("id", msgRequired)
	case tc.Name == "":
		return d.fail("name", msgRequired)
	case !hasInput:
		return d.fail("input", msgRequired)
	}
	return nil
}

// toolErrorPrefix marks the text of a tool_result that said is_error, so
// the model still learns the call failed on upstreams without the flag.
const toolErrorPrefix = "Error: "

func (d *decoder) toolResultBlock(tr *toolResult) error {
	r := &d.r
	var (
		n       int
		isError bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "tool_use_id":
			tr.id, err = d.str("tool_use_id")
		case "is_error":
			isError, err = d.optBool("is_error")
		case "content":
			d.enter("content", -1)
			err = d.toolResultContent(tr)
			d.leave()
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	if tr.id == "" {
		return d.fail("tool_use_id", msgRequired)
	}
	if isError {
		if len(tr.parts) > 0 && tr.parts[0].Type == llm.PartText {
			tr.parts[0].Text = toolErrorPrefix + tr.parts[0].Text
		} else {
			tr.parts = append([]llm.Part{{Type: llm.PartText, Text: strings.TrimSuffix(toolErrorPrefix, " ")}}, tr.parts...)
		}
	}
	return nil
}

// toolResultContent reads a tool_result's content: a string, or text and
// image blocks.
func (d *decoder) toolResultContent(tr *toolResult) error {
	r := &d.r
	switch r.Peek() {
	case '"':
		s, err := r.Str()
		if err == nil && s != "" {
			tr.parts = append(tr.parts, llm.Part{Type: llm.PartText, Text: s})
		}
		return err
	case 'n':
		return r.Literal("null")
	case '[':
	default:
		return d.wrongType("", msgString)
	}
	r.OpenArray()
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			return err
		}
		d.enter("", n-1)
		var p llm.Part
		kind, err := d.block(&p, nil, nil)
		if err == nil && kind != blockText && kind != blockImage {
			err = d.tagError(kind, "'text', 'image'")
		}
		d.leave()
		if err != nil {
			return err
		}
		tr.parts = append(tr.parts, p)
	}
}

// validToolName reports whether s fits ^[a-zA-Z0-9_-]{1,128}$.
func validToolName(s string) bool {
	if len(s) == 0 || len(s) > maxToolNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (d *decoder) tools() error {
	r, req := &d.r, d.req
	req.Tools = req.Tools[:0]
	ok, err := d.array("tools")
	if !ok || err != nil {
		req.Tools = nil
		return err
	}
	var n int
	for {
		more, err := r.ArrNext(&n)
		if err != nil || !more {
			if len(req.Tools) == 0 {
				req.Tools = nil
			}
			return err
		}
		if len(req.Tools) == MaxTools {
			return fieldError("tools", "List should have at most "+strconv.Itoa(MaxTools)+" items")
		}
		j := len(req.Tools)
		req.Tools = append(req.Tools, llm.Tool{})
		d.enter("tools", j)
		err = d.tool(&req.Tools[j])
		d.leave()
		if err != nil {
			return err
		}
	}
}

func (d *decoder) tool(t *llm.Tool) error {
	r := &d.r
	if r.Peek() != '{' {
		return d.wrongType("", msgDict)
	}
	r.OpenObject()
	var (
		n         int
		typ       string
		hasSchema bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "type":
			typ, err = d.str("type")
		case "name":
			t.Name, err = d.str("name")
		case "description":
			t.Description, err = d.str("description")
		case "input_schema":
			if r.Peek() != '{' {
				return d.wrongType("custom.input_schema", msgDict)
			}
			hasSchema = true
			var raw []byte
			if raw, err = r.Raw(); err == nil {
				t.Parameters = append(json.RawMessage(nil), raw...)
			}
		case "strict":
			if null, err2 := r.Null(); null || err2 != nil {
				err = err2
				break
			}
			if c := r.Peek(); c != 't' && c != 'f' {
				return d.wrongType("custom.strict", msgBool)
			}
			var v bool
			if v, err = r.Boolean(); err == nil {
				t.Strict = &v
			}
		default:
			// cache_control, input_examples, defer_loading, ...
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case typ != "" && typ != "custom":
		return d.fail("type", "'"+typ+"' server tools are not supported by this gateway; only custom tools are")
	case t.Name == "":
		return d.fail("custom.name", msgRequired)
	case !validToolName(t.Name):
		return d.fail("custom.name", toolNameRule)
	case !hasSchema:
		return d.fail("custom.input_schema", msgRequired)
	}
	return nil
}

func (d *decoder) toolChoice() error {
	r := &d.r
	if ok, err := d.object("tool_choice"); !ok || err != nil {
		return err
	}
	d.enter("tool_choice", -1)
	defer d.leave()
	var (
		n          int
		typ, name  string
		hasType    bool
		noParallel bool
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "type":
			hasType = true
			typ, err = d.str("type")
		case "name":
			name, err = d.str("name")
		case "disable_parallel_tool_use":
			noParallel, err = d.optBool("disable_parallel_tool_use")
		default:
			err = d.fail(string(key), msgExtra)
		}
		if err != nil {
			return err
		}
	}
	tc := &llm.ToolChoice{}
	switch typ {
	case "auto":
		tc.Mode = "auto"
	case "any":
		tc.Mode = "required"
	case "none":
		tc.Mode = "none"
	case "tool":
		if name == "" {
			return d.fail("name", msgRequired)
		}
		tc.Mode, tc.Name = "function", name
	default:
		if !hasType {
			return d.fail("type", msgRequired)
		}
		return d.fail("type", "Input tag '"+typ+"' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
	}
	d.req.ToolChoice = tc
	if noParallel && typ != "none" {
		f := false
		d.req.ParallelToolCalls = &f
	}
	return nil
}

// outputConfig reads output_config; its format becomes ResponseFormat,
// its other members (effort, ...) are ignored.
func (d *decoder) outputConfig() error {
	r := &d.r
	if ok, err := d.object("output_config"); !ok || err != nil {
		return err
	}
	d.enter("output_config", -1)
	defer d.leave()
	var n int
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil || !more {
			return err
		}
		if string(key) == "format" {
			d.enter("format", -1)
			err = d.outputFormat()
			d.leave()
		} else {
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
}

// outputFormat reads {"type":"json_schema","schema":{...}} or null.
func (d *decoder) outputFormat() error {
	r := &d.r
	if ok, err := d.object(""); !ok || err != nil {
		return err
	}
	var (
		n      int
		typ    string
		schema json.RawMessage
	)
	for {
		key, more, err := r.ObjNext(&n)
		if err != nil {
			return err
		}
		if !more {
			break
		}
		switch string(key) {
		case "type":
			typ, err = d.str("type")
		case "schema":
			if r.Peek() != '{' {
				return d.wrongType("schema", msgDict)
			}
			var raw []byte
			if raw, err = r.Raw(); err == nil {
				schema = append(json.RawMessage(nil), raw...)
			}
		default:
			err = r.Skip()
		}
		if err != nil {
			return err
		}
	}
	switch {
	case typ == "":
		return d.fail("type", msgRequired)
	case typ != "json_schema":
		return d.fail("type", "Input tag '"+typ+"' found using 'type' does not match any of the expected tags: 'json_schema'")
	case schema == nil:
		return d.fail("schema", msgRequired)
	}
	d.req.ResponseFormat = &llm.ResponseFormat{Type: "json_schema", Name: ResponseFormatName, Schema: schema}
	return nil
}
