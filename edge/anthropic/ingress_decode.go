package anthropic

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/ingress"
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
	// MaxDropped bounds the names Passthrough.Dropped collects; a body
	// with more unknown fields still decodes, the rest go unnamed.
	MaxDropped = 32
	// maxToolNameLen is Anthropic's limit on tool names
	// (^[a-zA-Z0-9_-]{1,128}$).
	maxToolNameLen = 128
)

// toolNameRule is Anthropic's wording of the tool name rule.
const toolNameRule = "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"

// ResponseFormatName is the name given to a JSON schema that arrives as
// output_config.format: Anthropic's format has no name, OpenAI's needs one.
const ResponseFormatName = "response"

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

// dialect words errors as Anthropic does: the path dotted
// ("messages.1.content.0.type"), then Pydantic's message, no codes. The
// server renders them as Anthropic error JSON with type
// invalid_request_error (see AppendError).
var dialect = ingress.Dialect{
	DottedIndex: true,
	Join:        ": ",
	Words: [...]string{
		ingress.KindString: msgString, ingress.KindBool: msgBool, ingress.KindNumber: msgNumber,
		ingress.KindInt: msgInt, ingress.KindObject: msgDict, ingress.KindArray: msgList,
	},
	Required:     msgRequired,
	AtMost:       "List should have at most ",
	OutOfRange:   "Input should be less than or equal to 2147483647",
	Fractions:    ingress.IntegralFractions,
	NotIntegral:  "Input should be a valid integer, got a number with a fractional part",
	NotObject:    msgDict,
	SyntaxPrefix: "There was an error parsing the body of your request: ",
}

// DecodeMessagesRequest parses and validates a POST /v1/messages body into
// req, which it resets first. It reuses the capacity of req's slices, so
// nothing may still refer to req's previous contents; req keeps no
// reference to body. req.Stream is set from "stream".
//
// req.Passthrough gets a copy of body (Dialect "anthropic") and the names
// of what the canonical form does not carry (Passthrough.Dropped): an
// Anthropic upstream sends the body as it came, so the same dialect on
// both sides loses nothing, and every other upstream gets the canonical
// fields and the client is told what was left out.
//
// The mapping: system becomes a leading RoleSystem message (one text part
// per system block); a role "system" turn in messages (a mid-conversation
// system message) becomes a RoleSystem message in place; a user turn's
// tool_result blocks become RoleTool
// messages in place, splitting the turn around them; tool_use blocks
// become the assistant's ToolCalls with the JSON text of their input;
// thinking and redacted_thinking blocks are dropped (no upstream but
// Anthropic could verify their signatures); an empty final assistant turn
// (a prefill of nothing) is dropped. Unknown fields, top-level or inside
// objects, are accepted and named in Passthrough.Dropped, so newer
// clients keep working and an Anthropic upstream still gets them;
// metadata and tool_choice, whose members are fixed, refuse others.
//
// Every error is an *ingress.Error naming the offending field.
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

// DialectName is Passthrough.Dialect for requests this package decoded.
const DialectName = "anthropic"

func decodeRequest(body []byte, req *llm.ChatRequest, count bool) error {
	// The passthrough's memory is reused like the slices' (a pooled
	// request decodes without allocating it again).
	pt := req.Passthrough
	ingress.ResetChat(req)
	if err := dialect.CheckUTF8(body); err != nil {
		return err
	}
	if pt == nil {
		pt = new(llm.Passthrough)
	}
	d := decoder{req: req, count: count, dropped: pt.Dropped[:0]}
	d.Reset(&dialect, body)
	if err := dialect.Wrap(d.decode()); err != nil {
		return err
	}
	slices.Sort(d.dropped)
	*pt = llm.Passthrough{Dialect: DialectName, Body: append(pt.Body[:0], body...), Headers: pt.Headers[:0], Dropped: d.dropped}
	req.Passthrough = pt
	return nil
}

// drop notes that a field (or block kind) the canonical form has no
// place for was skipped.
func (d *decoder) drop(name string) {
	if len(d.dropped) >= MaxDropped || slices.Contains(d.dropped, name) {
		return
	}
	d.dropped = append(d.dropped, name)
}

// skipMember skips the value of an object member the canonical form does
// not carry, noting its name; "type", known already, is not dropped.
func (d *decoder) skipMember(key []byte) error {
	if string(key) != "type" {
		d.drop(string(key))
	}
	return d.R.Skip()
}

type decoder struct {
	ingress.Decoder
	req   *llm.ChatRequest
	count bool
	// system holds the system prompt until the messages are known, since
	// it may come after them in the body.
	system    []llm.Part
	hasSystem bool
	// img holds base64 image data while its block is decoded.
	img []byte
	// dropped collects Passthrough.Dropped.
	dropped []string
}

func (d *decoder) decode() error {
	r, req := &d.R, d.req
	if err := d.OpenBody(); err != nil {
		return err
	}
	var (
		it        wire.Iter
		hasTokens bool
		hasModel  bool
		hasMsgs   bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "model":
			hasModel = true
			req.Model, it.Err = d.OptString("model")
		case "max_tokens":
			var v int64
			if v, hasTokens, it.Err = d.Int("max_tokens"); hasTokens && it.Err == nil {
				switch {
				case v < 1:
					it.Err = d.Fail("max_tokens", "Input should be greater than or equal to 1")
				case v > 1<<31-1:
					it.Err = d.Fail("max_tokens", "Input should be less than or equal to 2147483647")
				default:
					t := int(v)
					req.MaxTokens = &t
				}
			}
		case "messages":
			hasMsgs = true
			it.Err = d.messages()
		case "system":
			it.Err = d.systemPrompt()
		case "stop_sequences":
			it.Err = d.stopSequences()
		case "stream":
			req.Stream, it.Err = d.OptBool("stream")
		case "temperature":
			req.Temperature, it.Err = d.optFloat("temperature", 0, 1)
		case "top_p":
			req.TopP, it.Err = d.optFloat("top_p", 0, 1)
		case "top_k":
			var v int64
			var ok bool
			if v, ok, it.Err = d.Int("top_k"); ok && it.Err == nil {
				if v < 0 || v > 1<<31-1 {
					it.Err = d.Fail("top_k", "Input should be greater than or equal to 0")
				} else {
					k := int(v)
					req.TopK = &k
				}
			}
		case "tools":
			it.Err = d.tools()
		case "tool_choice":
			it.Err = d.toolChoice()
		case "metadata":
			it.Err = d.metadata()
		case "output_config":
			it.Err = d.outputConfig()
		case "output_format":
			// The beta spelling of output_config.format.
			d.Enter("output_format", -1)
			it.Err = d.outputFormat()
			d.Leave()
		case "mcp_servers":
			it.Err = d.unsupportedUnlessEmpty("mcp_servers", "the MCP connector is not supported by this gateway")
		default:
			// Fields that tune Anthropic's own serving (thinking, tiers,
			// prompt caching, context editing, ...) and ones newer than
			// this decoder: an Anthropic upstream gets them through the
			// passthrough, others cannot use them.
			it.Err = d.skipMember(it.Key)
		}
	}
	if err := d.EndBody(it.Err); err != nil {
		return err
	}
	switch {
	case !hasModel || req.Model == "":
		if !hasModel {
			return d.Fail("model", msgRequired)
		}
		return d.Fail("model", "String should have at least 1 character")
	case !hasTokens && !d.count:
		return d.Fail("max_tokens", msgRequired)
	case !hasMsgs:
		return d.Fail("messages", msgRequired)
	case len(req.Messages) == 0:
		return d.Fail("messages", "at least one message is required")
	case req.ToolChoice != nil && req.ToolChoice.Mode == "function" && !hasTool(req.Tools, req.ToolChoice.Name):
		return d.Fail("tool_choice.name", "Tool '"+req.ToolChoice.Name+"' not found in provided tools")
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

// optFloat reads a number in [lo, hi], or null as nil.
func (d *decoder) optFloat(field string, lo, hi float64) (*float64, error) {
	v, ok, err := d.Float(field)
	switch {
	case !ok || err != nil:
		return nil, err
	case math.IsInf(v, 0):
		return nil, d.Fail(field, msgNumber)
	case v < lo:
		return nil, d.Fail(field, "Input should be greater than or equal to "+strconv.FormatFloat(lo, 'g', -1, 64))
	case v > hi:
		return nil, d.Fail(field, "Input should be less than or equal to "+strconv.FormatFloat(hi, 'g', -1, 64))
	}
	return &v, nil
}

// unsupportedUnlessEmpty accepts null or an empty array and refuses
// anything else with msg.
func (d *decoder) unsupportedUnlessEmpty(field, msg string) error {
	r := &d.R
	switch r.Peek() {
	case 'n':
		return r.Literal("null")
	case '[':
		start := r.Offset()
		r.OpenArray()
		var it wire.Iter
		if !r.Elem(&it) {
			return it.Err
		}
		r.Rewind(start)
	}
	if err := r.Skip(); err != nil {
		return err
	}
	return d.Fail(field, msg)
}

func (d *decoder) stopSequences() (err error) {
	d.req.Stop, err = d.Strings(d.req.Stop, "stop_sequences", "", MaxStopSequences, "items")
	return err
}

func (d *decoder) metadata() error {
	r := &d.R
	if ok, err := d.EnterObject("metadata", ""); !ok || err != nil {
		return err
	}
	defer d.Leave()
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) == "user_id" {
			d.req.User, it.Err = d.OptString("user_id")
		} else {
			it.Err = d.Fail(string(it.Key), msgExtra)
		}
	}
	return it.Err
}

// systemPrompt reads "system": a string or an array of text blocks.
func (d *decoder) systemPrompt() (err error) {
	d.system, err = d.blocks("system", nil, false)
	d.hasSystem = len(d.system) > 0
	return err
}

// blocks reads what system and a tool_result's content hold, a string or
// an array of text blocks (and of image blocks when images is set), into
// parts appended to dst.
func (d *decoder) blocks(field string, dst []llm.Part, images bool) ([]llm.Part, error) {
	r := &d.R
	switch r.Peek() {
	case '"':
		s, err := r.Str()
		if err == nil && s != "" {
			dst = append(dst, llm.Part{Type: llm.PartText, Text: s})
		}
		return dst, err
	case 'n':
		return dst, r.Literal("null")
	case '[':
	default:
		return dst, d.WrongType(field, msgString)
	}
	want := "'text'"
	if images {
		want = "'text', 'image'"
	}
	r.OpenArray()
	var it wire.Iter
	for r.Elem(&it) {
		d.Enter(field, it.Index())
		var p llm.Part
		kind, err := d.block(&p, nil, nil)
		if err == nil && kind != blockText && (kind != blockImage || !images) {
			err = d.tagError(kind, want)
		}
		d.Leave()
		if err != nil {
			return dst, err
		}
		dst = append(dst, p)
	}
	return dst, it.Err
}

// messages decodes the messages array, reusing the message slots (and
// their Content and ToolCalls capacity) already in req.Messages.
func (d *decoder) messages() error {
	r := &d.R
	d.req.Messages = d.req.Messages[:0]
	if ok, err := d.Array("messages", ""); !ok || err != nil {
		return err
	}
	var (
		it        wire.Iter
		lastEmpty = -1 // wire index of the last turn with empty content
		lastRole  llm.Role
	)
	for r.Elem(&it) {
		if lastEmpty >= 0 {
			return d.Fail("messages."+strconv.Itoa(lastEmpty), "all messages must have non-empty content except for the optional final assistant message")
		}
		d.Enter("messages", it.Index())
		var empty bool
		lastRole, empty, it.Err = d.message()
		d.Leave()
		if it.Err != nil {
			return it.Err
		}
		if empty {
			lastEmpty = it.Index()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	if lastEmpty >= 0 && lastRole != llm.RoleAssistant {
		return d.Fail("messages."+strconv.Itoa(lastEmpty), "all messages must have non-empty content except for the optional final assistant message")
	}
	return nil
}

// newMessage appends a message slot with role, reusing a slot's capacity
// when one is there, and returns its index.
func (d *decoder) newMessage(role llm.Role) int {
	req := d.req
	i := len(req.Messages)
	req.Messages = ingress.AppendMessage(req.Messages)
	req.Messages[i].Role = role
	return i
}

// message decodes one turn. The role decides how blocks map, and it may
// come after the content, so a first pass finds it and a second decodes.
func (d *decoder) message() (role llm.Role, empty bool, err error) {
	r := &d.R
	if role, err = d.messageRole(); err != nil {
		return "", false, err
	}
	var (
		it         wire.Iter
		hasContent bool
	)
	first := len(d.req.Messages)
	for r.Member(&it) {
		switch string(it.Key) {
		case "content":
			hasContent = true
			if role == llm.RoleSystem {
				empty, it.Err = d.systemContent()
			} else {
				empty, it.Err = d.content(role)
			}
		case "role":
			// Read by the first pass.
			it.Err = r.Skip()
		default:
			// Newer per-turn options (cache_control, clear_at on a
			// system turn, ...): only the passthrough carries them.
			it.Err = d.skipMember(it.Key)
		}
	}
	if it.Err != nil {
		return "", false, it.Err
	}
	if !hasContent {
		return "", false, d.Fail("content", msgRequired)
	}
	if empty && role == llm.RoleAssistant {
		// An empty assistant turn adds nothing; only the final one is
		// allowed and it is a prefill of nothing.
		d.req.Messages = d.req.Messages[:first]
	}
	return role, empty, nil
}

// roles are the roles a turn may have, as tagOf reads them. A system
// turn is a mid-conversation system message (Claude Code sends them).
var roles = []string{string(llm.RoleUser), string(llm.RoleAssistant), string(llm.RoleSystem)}

// systemContent decodes a system turn's content, a string or text
// blocks, into a RoleSystem message in place. It reports whether the
// content was empty.
func (d *decoder) systemContent() (bool, error) {
	parts, err := d.blocks("content", nil, false)
	if err != nil || len(parts) == 0 {
		return true, err
	}
	i := d.newMessage(llm.RoleSystem)
	m := &d.req.Messages[i]
	m.Content = append(m.Content, parts...)
	return false, nil
}

// messageRole reads a turn's role, ahead of the rest of it.
func (d *decoder) messageRole() (llm.Role, error) {
	const want = "Input should be 'user', 'assistant' or 'system'"
	i, err := d.tagOf("role", want, roles, func([]byte) error { return d.Fail("role", want) })
	if err != nil {
		return "", err
	}
	return llm.Role(roles[i]), nil
}

// tagOf reads the member key of the object at the cursor, a string that
// must be one of tags, without decoding the rest: the first pass over an
// object whose tag (a turn's role, a block's type) decides how the rest
// is read, and may come last. It returns the tag's index and leaves the
// reader just inside the object, for the second pass; want is the type
// error's words and unknown words the error for any other string.
func (d *decoder) tagOf(key, want string, tags []string, unknown func(tag []byte) error) (int, error) {
	r := &d.R
	if r.Peek() != '{' {
		return 0, d.WrongType("", msgDict)
	}
	start := r.Offset()
	r.OpenObject()
	var it wire.Iter
	found := -1
	for r.Member(&it) {
		if string(it.Key) != key {
			it.Err = r.Skip()
			continue
		}
		if r.Peek() != '"' {
			return 0, d.WrongType(key, want)
		}
		var b []byte
		if b, it.Err = r.StrBytes(); it.Err != nil {
			break
		}
		found = -1
		for i, t := range tags {
			if string(b) == t {
				found = i
				break
			}
		}
		if found < 0 {
			return 0, unknown(b)
		}
	}
	switch {
	case it.Err != nil:
		return 0, it.Err
	case found < 0:
		return 0, d.Fail(key, msgRequired)
	}
	r.Rewind(start)
	r.OpenObject()
	return found, nil
}

// content decodes a turn's content into canonical messages: a string, or
// an array of blocks. It reports whether the content was empty.
func (d *decoder) content(role llm.Role) (empty bool, err error) {
	r := &d.R
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
		return false, d.WrongType("content", msgString)
	}
	r.OpenArray()
	cur := -1 // the message plain blocks go into
	var it wire.Iter
	for r.Elem(&it) {
		if cur < 0 {
			cur = d.newMessage(role)
		}
		d.Enter("content", it.Index())
		cur, it.Err = d.contentBlock(role, cur)
		d.Leave()
	}
	if it.Err != nil {
		return false, it.Err
	}
	if cur >= 0 {
		if m := &d.req.Messages[cur]; len(m.Content) == 0 && len(m.ToolCalls) == 0 {
			// Only skipped blocks: nothing to send.
			d.req.Messages = d.req.Messages[:cur]
		}
	}
	return it.Index() < 0, nil // an empty array
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
			return cur, d.Fail("", "image blocks are only allowed in user messages")
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
	return d.Fail("type", "Input tag "+blockTags[kind]+" found using 'type' does not match any of the expected tags: "+want)
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
		err = d.SkipMembers()
	}
	return kind, err
}

// blockTypes are the block types a request may carry, in blockKind's
// order; the last, redacted_thinking, is blockSkipped as thinking is.
var blockTypes = []string{"text", "image", "tool_use", "tool_result", "thinking", "redacted_thinking"}

// blockType reads a block's type, ahead of the rest of it.
func (d *decoder) blockType() (blockKind, error) {
	i, err := d.tagOf("type", msgString, blockTypes, func(b []byte) error {
		if unsupportedBlocks[string(b)] {
			return d.Fail("type", "'"+string(b)+"' blocks are not supported by this gateway")
		}
		return d.Fail("type", "Input tag '"+string(b)+"' found using 'type' does not match any of the expected tags: 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'")
	})
	if err == nil && i >= int(blockSkipped) {
		d.drop(blockTypes[i])
	}
	return blockKind(min(i, int(blockSkipped))), err
}

func (d *decoder) textBlock(p *llm.Part) error {
	r := &d.R
	var (
		it      wire.Iter
		hasText bool
	)
	for r.Member(&it) {
		if string(it.Key) == "text" {
			if r.Peek() != '"' {
				return d.WrongType("text", msgString)
			}
			hasText = true
			p.Text, it.Err = r.Str()
		} else {
			// cache_control, citations.
			it.Err = d.skipMember(it.Key)
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch {
	case !hasText:
		return d.Fail("text", msgRequired)
	case p.Text == "":
		return d.Fail("text", "text content blocks must be non-empty")
	}
	p.Type = llm.PartText
	return nil
}

// Image media types Anthropic accepts.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// imageBlock reads {"type":"image","source":{...}} into a part whose
// ImageURL is the URL or a data: URL built from base64 data.
func (d *decoder) imageBlock(p *llm.Part) error {
	r := &d.R
	var (
		it        wire.Iter
		hasSource bool
	)
	for r.Member(&it) {
		if string(it.Key) == "source" {
			hasSource = true
			d.Enter("source", -1)
			it.Err = d.imageSource(p)
			d.Leave()
		} else {
			it.Err = d.skipMember(it.Key)
		}
	}
	if it.Err != nil {
		return it.Err
	}
	if !hasSource {
		return d.Fail("source", msgRequired)
	}
	p.Type = llm.PartImage
	return nil
}

func (d *decoder) imageSource(p *llm.Part) error {
	r := &d.R
	if err := d.OpenObject("", ""); err != nil {
		return err
	}
	var (
		it              wire.Iter
		typ, media, url string
		hasData, hasURL bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			typ, it.Err = d.OptString("type")
		case "media_type":
			media, it.Err = d.OptString("media_type")
		case "data":
			if r.Peek() != '"' {
				return d.WrongType("data", msgString)
			}
			hasData = true
			// Kept as bytes until media_type is known (it may come
			// later), so the data: URL is built with one copy.
			var b []byte
			if b, it.Err = r.StrBytes(); it.Err == nil {
				d.img = append(d.img[:0], b...)
			}
		case "url":
			hasURL = true
			url, it.Err = d.OptString("url")
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch typ {
	case "base64":
		switch {
		case media == "":
			return d.Fail("media_type", msgRequired)
		case !imageTypes[media]:
			return d.Fail("media_type", "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
		case !hasData:
			return d.Fail("data", msgRequired)
		case !ingress.ValidBase64(d.img, false):
			return d.Fail("data", "image data is not valid base64")
		}
		p.ImageURL = ingress.DataURL(media, d.img)
	case "url":
		if !hasURL || url == "" {
			return d.Fail("url", msgRequired)
		}
		if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
			return d.Fail("url", "must be an http or https URL")
		}
		p.ImageURL = url
	case "file":
		return d.Fail("type", "file sources are not supported by this gateway")
	case "":
		return d.Fail("type", msgRequired)
	default:
		return d.Fail("type", "Input tag '"+typ+"' found using 'type' does not match any of the expected tags: 'base64', 'url'")
	}
	return nil
}

func (d *decoder) toolUseBlock(tc *llm.ToolCall) error {
	r := &d.R
	var (
		it       wire.Iter
		hasInput bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "id":
			tc.ID, it.Err = d.OptString("id")
		case "name":
			tc.Name, it.Err = d.OptString("name")
		case "input":
			if r.Peek() != '{' {
				return d.WrongType("input", msgDict)
			}
			hasInput = true
			var raw []byte
			if raw, it.Err = r.Raw(); it.Err == nil {
				tc.Arguments = string(raw)
			}
		default:
			it.Err = d.skipMember(it.Key)
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch {
	case tc.ID == "":
		return d.Fail("id", msgRequired)
	case tc.Name == "":
		return d.Fail("name", msgRequired)
	case !hasInput:
		return d.Fail("input", msgRequired)
	}
	return nil
}

// toolErrorPrefix marks the text of a tool_result that said is_error, so
// the model still learns the call failed on upstreams without the flag.
const toolErrorPrefix = "Error: "

func (d *decoder) toolResultBlock(tr *toolResult) error {
	r := &d.R
	var (
		it      wire.Iter
		isError bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "tool_use_id":
			tr.id, it.Err = d.OptString("tool_use_id")
		case "is_error":
			isError, it.Err = d.OptBool("is_error")
		case "content":
			tr.parts, it.Err = d.blocks("content", tr.parts, true)
		default:
			it.Err = d.skipMember(it.Key)
		}
	}
	if it.Err != nil {
		return it.Err
	}
	if tr.id == "" {
		return d.Fail("tool_use_id", msgRequired)
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

func (d *decoder) tools() (err error) {
	req := d.req
	req.Tools, err = ingress.List(&d.Decoder, req.Tools, "tools", "", MaxTools, "items", d.tool)
	if len(req.Tools) == 0 {
		req.Tools = nil
	}
	return err
}

func (d *decoder) tool(t *llm.Tool) error {
	r := &d.R
	if err := d.OpenObject("", ""); err != nil {
		return err
	}
	var (
		it        wire.Iter
		typ       string
		hasSchema bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			typ, it.Err = d.OptString("type")
		case "name":
			t.Name, it.Err = d.OptString("name")
		case "description":
			t.Description, it.Err = d.OptString("description")
		case "input_schema":
			if r.Peek() != '{' {
				return d.WrongType("custom.input_schema", msgDict)
			}
			hasSchema = true
			t.Parameters, it.Err = d.RawObject("custom.input_schema", "")
		case "strict":
			t.Strict, it.Err = d.OptBoolPtr("custom.strict")
		default:
			// cache_control, input_examples, defer_loading, ...
			it.Err = d.skipMember(it.Key)
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch {
	case typ != "" && typ != "custom":
		return d.Fail("type", "'"+typ+"' server tools are not supported by this gateway; only custom tools are")
	case t.Name == "":
		return d.Fail("custom.name", msgRequired)
	case !ingress.ValidName(t.Name, maxToolNameLen):
		return d.Fail("custom.name", toolNameRule)
	case !hasSchema:
		return d.Fail("custom.input_schema", msgRequired)
	}
	return nil
}

func (d *decoder) toolChoice() error {
	r := &d.R
	if ok, err := d.EnterObject("tool_choice", ""); !ok || err != nil {
		return err
	}
	defer d.Leave()
	var (
		it         wire.Iter
		typ, name  string
		hasType    bool
		noParallel bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			hasType = true
			typ, it.Err = d.OptString("type")
		case "name":
			name, it.Err = d.OptString("name")
		case "disable_parallel_tool_use":
			noParallel, it.Err = d.OptBool("disable_parallel_tool_use")
		default:
			it.Err = d.Fail(string(it.Key), msgExtra)
		}
	}
	if it.Err != nil {
		return it.Err
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
			return d.Fail("name", msgRequired)
		}
		tc.Mode, tc.Name = "function", name
	default:
		if !hasType {
			return d.Fail("type", msgRequired)
		}
		return d.Fail("type", "Input tag '"+typ+"' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'")
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
	r := &d.R
	if ok, err := d.EnterObject("output_config", ""); !ok || err != nil {
		return err
	}
	defer d.Leave()
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) == "format" {
			d.Enter("format", -1)
			it.Err = d.outputFormat()
			d.Leave()
		} else {
			// effort, task budgets, ...
			d.drop("output_config." + string(it.Key))
			it.Err = r.Skip()
		}
	}
	return it.Err
}

// outputFormat reads {"type":"json_schema","schema":{...}} or null.
func (d *decoder) outputFormat() error {
	r := &d.R
	if ok, err := d.Object("", ""); !ok || err != nil {
		return err
	}
	var (
		it     wire.Iter
		typ    string
		schema json.RawMessage
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			typ, it.Err = d.OptString("type")
		case "schema":
			if r.Peek() != '{' {
				return d.WrongType("schema", msgDict)
			}
			schema, it.Err = d.RawObject("schema", "")
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch {
	case typ == "":
		return d.Fail("type", msgRequired)
	case typ != "json_schema":
		return d.Fail("type", "Input tag '"+typ+"' found using 'type' does not match any of the expected tags: 'json_schema'")
	case schema == nil:
		return d.Fail("schema", msgRequired)
	}
	d.req.ResponseFormat = &llm.ResponseFormat{Type: "json_schema", Name: ResponseFormatName, Schema: schema}
	return nil
}
