package openai

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/ingress"
	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// MaxMetadata is how many metadata pairs the Responses API accepts.
const MaxMetadata = 16

// namespaceSep joins a namespace and a tool name into the one function
// name a Chat Completions, Anthropic or Ollama upstream can carry.
const namespaceSep = "__"

// Responses holds what a /v1/responses request says beyond the canonical
// chat request: what the answer echoes back, how to name tool calls in
// it, and what is to be stored.
type Responses struct {
	// Store is the request's store (default true, as OpenAI's): keep the
	// response for GET and for a later previous_response_id.
	Store              bool
	PreviousResponseID string
	Instructions       string
	// Echoed verbatim in the response object, when the client sent them.
	Metadata, Reasoning, Text, ToolChoice, Tools json.RawMessage
	// Namespaced maps a flattened function name to its namespace and its
	// name within it; Custom holds the names of custom (free-form input)
	// tools, carried upstream as functions taking {"input": string}.
	Namespaced map[string][2]string
	Custom     map[string]bool
	// Dropped names what the request held that no upstream but OpenAI's
	// own Responses API could use (hosted tools, reasoning items), left
	// out of the canonical request; the server reports it in a header.
	Dropped []string
	// Forced is the hosted tool (web_search, ...) tool_choice insists
	// on, which only a Responses upstream can honour (the server refuses
	// it for any other).
	Forced string
	// Files names the media of input_file parts no upstream but OpenAI's
	// Responses API can read (PDFs, files by id or URL); text files
	// become text parts instead.
	Files []string
}

// textFile decodes a data: URL of a text medium (text/*, JSON, XML,
// YAML) into its text.
func textFile(dataURL string) (string, bool) {
	media := fileMedia(dataURL)
	if !strings.HasPrefix(media, "text/") && media != "application/json" && media != "application/xml" && media != "application/x-yaml" && media != "application/yaml" {
		return "", false
	}
	_, b64, ok := strings.Cut(dataURL, ";base64,")
	if !ok {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// fileMedia is the media type of a data: URL, "" for anything else.
func fileMedia(dataURL string) string {
	rest, ok := strings.CutPrefix(dataURL, "data:")
	if !ok {
		return ""
	}
	media, _, _ := strings.Cut(rest, ";")
	media, _, _ = strings.Cut(media, ",")
	return strings.ToLower(media)
}

// hostedTools are the Responses tool types OpenAI runs itself.
var hostedTools = map[string]bool{
	"web_search": true, "web_search_preview": true, "web_search_preview_2025_03_11": true,
	"file_search": true, "code_interpreter": true, "image_generation": true,
	"computer_use_preview": true, "computer_use": true, "mcp": true, "local_shell": true,
	"shell": true, "apply_patch": true, "tool_search": true,
}

// DecodeResponsesRequest parses and validates a /v1/responses body into
// req (reset first) and rs. Input items become canonical messages: the
// instructions a leading system message, function calls and their outputs
// assistant tool calls and tool messages, namespace tools functions named
// namespace__name. Every error is an *ingress.Error naming the field.
func DecodeResponsesRequest(body []byte, req *llm.ChatRequest, rs *Responses) error {
	ingress.ResetChat(req)
	*rs = Responses{Store: true}
	if err := dialect.CheckUTF8(body); err != nil {
		return err
	}
	d := responsesDecoder{req: req, rs: rs}
	d.Reset(&dialect, body)
	if err := d.decode(); err != nil {
		return dialect.Wrap(err)
	}
	return nil
}

type responsesDecoder struct {
	ingress.Decoder
	req *llm.ChatRequest
	rs  *Responses
	// input holds the decoded input items until instructions are known.
	input []llm.Message
}

func (d *responsesDecoder) decode() error {
	r, req, rs := &d.R, d.req, d.rs
	if err := d.OpenBody(); err != nil {
		return err
	}
	var (
		it       wire.Iter
		hasInput bool
		choice   *llm.ToolChoice
		forced   string // a hosted tool tool_choice insists on
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "model":
			req.Model, it.Err = d.OptString("model")
		case "input":
			hasInput = true
			it.Err = d.inputs()
		case "instructions":
			rs.Instructions, it.Err = d.OptString("instructions")
		case "stream":
			req.Stream, it.Err = d.OptBool("stream")
		case "store":
			var v, ok bool
			if v, ok, it.Err = d.Bool("store"); ok {
				rs.Store = v
			}
		case "previous_response_id":
			rs.PreviousResponseID, it.Err = d.OptString("previous_response_id")
		case "temperature":
			req.Temperature, it.Err = optFloat(&d.Decoder, "temperature", 0, 2)
		case "top_p":
			req.TopP, it.Err = optFloat(&d.Decoder, "top_p", 0, 1)
		case "max_output_tokens":
			req.MaxTokens, it.Err = optTokens(&d.Decoder, "max_output_tokens")
		case "tools":
			rs.Tools, it.Err = d.rawThen(d.tools)
		case "tool_choice":
			rs.ToolChoice, it.Err = d.rawThen(func() (err error) {
				choice, forced, err = d.toolChoice()
				return err
			})
		case "parallel_tool_calls":
			req.ParallelToolCalls, it.Err = d.OptBoolPtr("parallel_tool_calls")
		case "text":
			rs.Text, it.Err = d.rawThen(d.text)
		case "reasoning":
			rs.Reasoning, it.Err = d.rawThen(d.reasoning)
		case "metadata":
			rs.Metadata, it.Err = d.metadata()
		case "user", "safety_identifier":
			var s string
			if s, it.Err = d.OptString(string(it.Key)); s != "" {
				req.User = s
			}
		case "background":
			var v bool
			if v, _, it.Err = d.Bool("background"); v {
				return d.Unsupported("background", "background responses are not supported; stream instead")
			}
		case "conversation", "prompt":
			if r.Peek() == 'n' {
				it.Err = r.Literal("null")
			} else {
				return d.Unsupported(string(it.Key), string(it.Key)+" objects are not supported; send the input items")
			}
		default:
			// include, truncation, service_tier, prompt_cache_key,
			// stream_options, top_logprobs, client_metadata: nothing an
			// upstream other than OpenAI's own can use.
			it.Err = r.Skip()
		}
	}
	if err := d.EndBody(it.Err); err != nil {
		return err
	}
	switch {
	case req.Model == "":
		return d.Missing("model")
	case !hasInput && rs.PreviousResponseID == "":
		return d.Missing("input")
	case choice != nil && choice.Mode != "none" && len(req.Tools) == 0:
		return d.Fail("tool_choice", "is only allowed when tools are specified")
	}
	req.ToolChoice, rs.Forced = choice, forced
	if rs.Instructions != "" {
		req.Messages = ingress.AppendMessage(req.Messages)
		req.Messages[len(req.Messages)-1] = llm.Message{Role: llm.RoleSystem, Content: []llm.Part{{Type: llm.PartText, Text: rs.Instructions}}}
	}
	req.Messages = append(req.Messages, d.input...)
	return nil
}

// rawThen runs read on the value at the reader and returns the value's JSON
// text, for the response object to echo.
func (d *responsesDecoder) rawThen(read func() error) (json.RawMessage, error) {
	start := d.R.Offset()
	raw, err := d.R.Raw()
	if err != nil {
		return nil, err
	}
	d.R.Rewind(start)
	if err := read(); err != nil {
		return nil, err
	}
	if string(raw) == "null" {
		return nil, nil
	}
	return compact(raw), nil
}

// compact copies raw without insignificant whitespace: echoed in an SSE
// data line, a newline would end the event.
func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return append(json.RawMessage(nil), raw...) // the reader accepted it; cannot happen
	}
	return b.Bytes()
}

// inputs reads input: a string (one user message) or an array of items.
func (d *responsesDecoder) inputs() error {
	r := &d.R
	if r.Peek() == '"' {
		s, err := r.Str()
		d.input = append(d.input, llm.Message{Role: llm.RoleUser, Content: []llm.Part{{Type: llm.PartText, Text: s}}})
		return err
	}
	if ok, err := d.Array("input", "a string or an array of input items"); !ok || err != nil {
		return err
	}
	var it wire.Iter
	for r.Elem(&it) {
		d.Enter("input", it.Index())
		it.Err = d.item()
		d.Leave()
	}
	return it.Err
}

// item reads one input item.
func (d *responsesDecoder) item() error {
	r := &d.R
	start := r.Offset()
	if err := d.OpenObject("", "an input item object"); err != nil {
		return err
	}
	// The type decides how the other members read, and may come last:
	// find it first, then read the item again.
	typ := ""
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) == "type" {
			typ, it.Err = d.OptString("type")
		} else {
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	r.Rewind(start)
	r.OpenObject()
	switch typ {
	case "", "message":
		return d.message()
	case "function_call", "custom_tool_call":
		return d.call(typ == "custom_tool_call")
	case "function_call_output", "custom_tool_call_output":
		return d.callOutput()
	case "reasoning", "web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call":
		// What a model did on OpenAI's side, replayed as history: no other
		// upstream can read it (reasoning is encrypted), and a model
		// answers the conversation without it.
		d.drop(typ)
		return d.SkipMembers()
	case "item_reference":
		return d.Unsupported("type", "item_reference is not supported; send the items themselves or previous_response_id")
	}
	return d.Unsupported("type", `"`+typ+`" input items are not supported`)
}

func (d *responsesDecoder) drop(what string) {
	if !slices.Contains(d.rs.Dropped, what) {
		d.rs.Dropped = append(d.rs.Dropped, what)
	}
}

// message reads a message item: role and content (a string or parts).
func (d *responsesDecoder) message() error {
	r := &d.R
	var (
		it         wire.Iter
		m          llm.Message
		hasContent bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "role":
			var s string
			if s, it.Err = d.OptString("role"); it.Err != nil {
				break
			}
			switch s {
			case "user":
				m.Role = llm.RoleUser
			case "assistant":
				m.Role = llm.RoleAssistant
			case "system", "developer":
				m.Role = llm.RoleSystem
			default:
				return d.Fail("role", "must be one of user, assistant, system, developer")
			}
		case "content":
			hasContent = true
			m.Content, it.Err = d.content(m.Content[:0])
		default:
			// id, status, type: nothing a model reads.
			it.Err = r.Skip()
		}
	}
	switch {
	case it.Err != nil:
		return it.Err
	case m.Role == "":
		return d.Missing("role")
	case !hasContent:
		return d.Missing("content")
	}
	for i, p := range m.Content {
		if p.Type == llm.PartImage && m.Role != llm.RoleUser {
			d.Enter("content", i)
			defer d.Leave()
			return d.Fail("", "is an image; images are only allowed in user messages")
		}
	}
	d.input = append(d.input, m)
	return nil
}

// content reads a message's content: a string or an array of parts.
func (d *responsesDecoder) content(dst []llm.Part) ([]llm.Part, error) {
	r := &d.R
	if r.Peek() == '"' {
		s, err := r.Str()
		return append(dst, llm.Part{Type: llm.PartText, Text: s}), err
	}
	return ingress.List(&d.Decoder, dst, "content", "a string or an array of content parts", 0, "", d.part)
}

func (d *responsesDecoder) part(p *llm.Part) error {
	r := &d.R
	if err := d.OpenObject("", "a content part object"); err != nil {
		return err
	}
	var (
		it                                   wire.Iter
		typ                                  string
		text, fileRef, fileData, fileURL, fn string
		image                                bool
	)
	for r.Member(&it) {
		switch k := string(it.Key); k {
		case "type":
			typ, it.Err = d.OptString("type")
		case "file_data":
			fileData, it.Err = d.OptString("file_data")
		case "file_url":
			fileURL, it.Err = d.OptString("file_url")
		case "filename":
			fn, it.Err = d.OptString("filename")
		case "text", "refusal":
			text, it.Err = d.OptString(k)
		case "image_url":
			p.ImageURL, it.Err = d.OptString("image_url")
			image = true
		case "detail":
			if p.Detail, it.Err = d.OptString("detail"); it.Err == nil {
				switch p.Detail {
				case "", "auto", "low", "high":
				default:
					return d.Fail("detail", "must be one of auto, low, high")
				}
			}
		case "file_id":
			fileRef, it.Err = d.OptString("file_id")
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch typ {
	case "input_text", "output_text", "refusal", "text", "summary_text":
		p.Type, p.Text = llm.PartText, text
	case "input_image":
		if fileRef != "" || !image || p.ImageURL == "" {
			return d.Unsupported("image_url", "input_image needs an image_url (an http(s) or data: URL); file ids are not supported")
		}
		p.Type = llm.PartImage
	case "input_file":
		if t, ok := textFile(fileData); ok {
			// A text file is text to every upstream.
			p.Type, p.Text = llm.PartText, cmp.Or(fn, "file")+":\n"+t
			return nil
		}
		// A PDF (or a file by id or URL) only OpenAI's Responses API
		// reads: the server refuses it for any other upstream.
		what := cmp.Or(fileMedia(fileData), "a file by id or URL")
		if fileRef == "" && fileURL == "" && fileData == "" {
			return d.Missing("file_data")
		}
		d.rs.Files = append(d.rs.Files, what)
		d.drop("input_file")
		p.Type = llm.PartText
	case "input_audio":
		return d.Unsupported("type", typ+" parts are not supported; send text or images")
	case "":
		return d.Missing("type")
	default:
		return d.Unsupported("type", `"`+typ+`" content parts are not supported`)
	}
	return nil
}

// call reads a function_call (or custom_tool_call) item: a call the
// model made, which joins the assistant message before it.
func (d *responsesDecoder) call(custom bool) error {
	r := &d.R
	var (
		it        wire.Iter
		tc        llm.ToolCall
		namespace string
		input     string
		hasArgs   bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "call_id":
			tc.ID, it.Err = d.OptString("call_id")
		case "name":
			tc.Name, it.Err = d.OptString("name")
		case "namespace":
			namespace, it.Err = d.OptString("namespace")
		case "arguments":
			hasArgs = true
			tc.Arguments, it.Err = d.OptString("arguments")
		case "input":
			hasArgs = true
			input, it.Err = d.OptString("input")
		default:
			it.Err = r.Skip()
		}
	}
	switch {
	case it.Err != nil:
		return it.Err
	case tc.ID == "":
		return d.Missing("call_id")
	case tc.Name == "":
		return d.Missing("name")
	case !hasArgs && custom:
		return d.Missing("input")
	case !hasArgs:
		return d.Missing("arguments")
	}
	if namespace != "" {
		tc.Name = namespace + namespaceSep + tc.Name
	}
	if custom {
		tc.Arguments = customArguments(input)
	}
	n := len(d.input)
	if n == 0 || d.input[n-1].Role != llm.RoleAssistant {
		d.input = append(d.input, llm.Message{Role: llm.RoleAssistant})
		n++
	}
	d.input[n-1].ToolCalls = append(d.input[n-1].ToolCalls, tc)
	return nil
}

// customArguments carries a custom tool's free-form input as the
// arguments of the function it becomes upstream.
func customArguments(input string) string {
	b, _ := json.Marshal(map[string]string{"input": input})
	return string(b)
}

// callOutput reads a function_call_output (or custom_tool_call_output)
// item: a tool message.
func (d *responsesDecoder) callOutput() error {
	r := &d.R
	var (
		it     wire.Iter
		m      = llm.Message{Role: llm.RoleTool}
		output bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "call_id":
			m.ToolCallID, it.Err = d.OptString("call_id")
		case "output":
			output = true
			var parts []llm.Part
			if parts, it.Err = d.content(nil); it.Err == nil {
				// A tool message is text to every upstream; images a tool
				// returned cannot follow it there.
				var b strings.Builder
				for _, p := range parts {
					if p.Type == llm.PartText {
						b.WriteString(p.Text)
					} else {
						d.drop("tool output images")
					}
				}
				m.Content = []llm.Part{{Type: llm.PartText, Text: b.String()}}
			}
		default:
			it.Err = r.Skip()
		}
	}
	switch {
	case it.Err != nil:
		return it.Err
	case m.ToolCallID == "":
		return d.Missing("call_id")
	case !output:
		return d.Missing("output")
	}
	d.input = append(d.input, m)
	return nil
}

// tools reads the tools array: function and custom tools, namespaces of
// them (flattened), and hosted tools (left out and named in Dropped).
func (d *responsesDecoder) tools() error {
	r := &d.R
	if ok, err := d.Array("tools", "an array of tools"); !ok || err != nil {
		return err
	}
	var it wire.Iter
	for r.Elem(&it) {
		d.Enter("tools", it.Index())
		it.Err = d.tool("")
		d.Leave()
	}
	if it.Err == nil && len(d.req.Tools) > MaxTools {
		return d.TooMany("tools", MaxTools, "tools")
	}
	return it.Err
}

func (d *responsesDecoder) tool(namespace string) error {
	r := &d.R
	start := r.Offset()
	if err := d.OpenObject("", "a tool object"); err != nil {
		return err
	}
	var (
		it                wire.Iter
		t                 llm.Tool
		typ               string
		hasTools, hasType bool
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			hasType = true
			typ, it.Err = d.OptString("type")
		case "tools":
			hasTools = true
			it.Err = r.Skip() // read below, once the namespace's name is known
		default:
			// format (a custom tool's grammar), external_web_access, ...
			var ok bool
			if ok, it.Err = d.ToolMember(it.Key, &t, &functions); !ok {
				it.Err = r.Skip()
			}
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch {
	case !hasType:
		return d.Missing("type")
	case typ == "namespace" && namespace == "":
		if t.Name == "" {
			return d.Missing("name")
		}
		if !hasTools {
			return d.Missing("tools")
		}
		return d.namespaceTools(start, t.Name)
	case hostedTools[typ]:
		d.drop(typ)
		return nil
	case typ != "function" && typ != "custom":
		return d.Unsupported("type", `"`+typ+`" tools are not supported`)
	case t.Name == "":
		return d.Missing("name")
	}
	if namespace != "" {
		if d.rs.Namespaced == nil {
			d.rs.Namespaced = map[string][2]string{}
		}
		flat := namespace + namespaceSep + t.Name
		d.rs.Namespaced[flat] = [2]string{namespace, t.Name}
		t.Name = flat
	}
	if !ingress.ValidName(t.Name, maxNameLen) {
		return d.Fail("name", "must be 1 to 64 characters of a-z, A-Z, 0-9, underscores and dashes (with its namespace, joined by __)")
	}
	if typ == "custom" {
		if d.rs.Custom == nil {
			d.rs.Custom = map[string]bool{}
		}
		d.rs.Custom[t.Name] = true
		t.Parameters = customParameters
		t.Strict = nil
	}
	d.req.Tools = append(d.req.Tools, t)
	return nil
}

// customParameters is the schema a custom tool's function takes upstream.
var customParameters = json.RawMessage(`{"type":"object","properties":{"input":{"type":"string","description":"The tool's free-form input."}},"required":["input"],"additionalProperties":false}`)

// namespaceTools reads the tools of the namespace object at start.
func (d *responsesDecoder) namespaceTools(start int, namespace string) error {
	r := &d.R
	end := r.Offset()
	r.Rewind(start)
	r.OpenObject()
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) != "tools" {
			it.Err = r.Skip()
			continue
		}
		if ok, err := d.Array("tools", "an array of tools"); !ok || err != nil {
			return err
		}
		var el wire.Iter
		for r.Elem(&el) {
			d.Enter("tools", el.Index())
			el.Err = d.tool(namespace)
			d.Leave()
		}
		it.Err = el.Err
	}
	if it.Err == nil {
		r.Rewind(end)
	}
	return it.Err
}

// toolChoice reads tool_choice; forced names a hosted tool it insists on.
func (d *responsesDecoder) toolChoice() (tc *llm.ToolChoice, forced string, err error) {
	r := &d.R
	switch r.Peek() {
	case 'n':
		return nil, "", r.Literal("null")
	case '"':
		s, err := r.Str()
		if err != nil {
			return nil, "", err
		}
		switch s {
		case "auto", "none", "required":
			return &llm.ToolChoice{Mode: s}, "", nil
		}
		return nil, "", d.Fail("tool_choice", "must be auto, none, required or an object")
	}
	if err := d.OpenObject("tool_choice", "a string or an object"); err != nil {
		return nil, "", err
	}
	d.Enter("tool_choice", -1)
	defer d.Leave()
	var (
		it                  wire.Iter
		typ, name, ns, mode string
	)
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			typ, it.Err = d.OptString("type")
		case "name":
			name, it.Err = d.OptString("name")
		case "namespace":
			ns, it.Err = d.OptString("namespace")
		case "mode":
			mode, it.Err = d.OptString("mode")
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return nil, "", it.Err
	}
	switch {
	case typ == "function" || typ == "custom":
		if name == "" {
			return nil, "", d.Missing("name")
		}
		if ns != "" {
			name = ns + namespaceSep + name
		}
		return &llm.ToolChoice{Mode: "function", Name: name}, "", nil
	case typ == "allowed_tools":
		// The allowed list narrows what the model may call; upstreams
		// that cannot say so get the mode alone.
		if mode != "required" {
			mode = "auto"
		}
		return &llm.ToolChoice{Mode: mode}, "", nil
	case hostedTools[typ]:
		return nil, typ, nil
	case typ == "":
		return nil, "", d.Missing("type")
	}
	return nil, "", d.Unsupported("type", `"`+typ+`" is not a tool_choice edgeway can carry`)
}

// text reads text: its format becomes the response format.
func (d *responsesDecoder) text() error {
	r := &d.R
	if ok, err := d.EnterObject("text", "an object"); !ok || err != nil {
		return err
	}
	defer d.Leave()
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) != "format" {
			it.Err = r.Skip() // verbosity
			continue
		}
		it.Err = d.format()
	}
	return it.Err
}

func (d *responsesDecoder) format() error {
	r := &d.R
	if ok, err := d.EnterObject("format", "an object"); !ok || err != nil {
		return err
	}
	defer d.Leave()
	f := &llm.ResponseFormat{}
	var it wire.Iter
	for r.Member(&it) {
		switch string(it.Key) {
		case "type":
			f.Type, it.Err = d.OptString("type")
		case "name":
			f.Name, it.Err = d.OptString("name")
		case "description":
			f.Description, it.Err = d.OptString("description")
		case "schema":
			f.Schema, it.Err = d.RawObject("schema", "a JSON Schema object")
		case "strict":
			f.Strict, it.Err = d.OptBoolPtr("strict")
		default:
			it.Err = r.Skip()
		}
	}
	if it.Err != nil {
		return it.Err
	}
	switch f.Type {
	case "text":
	case "json_object":
		d.req.ResponseFormat = f
	case "json_schema":
		if f.Name == "" {
			return d.Missing("name")
		}
		if f.Schema == nil {
			return d.Missing("schema")
		}
		d.req.ResponseFormat = f
	case "":
		return d.Missing("type")
	default:
		return d.Fail("type", "must be text, json_object or json_schema")
	}
	return nil
}

// reasoning reads reasoning: its effort goes to upstreams that take
// reasoning_effort.
func (d *responsesDecoder) reasoning() error {
	r := &d.R
	if ok, err := d.EnterObject("reasoning", "an object"); !ok || err != nil {
		return err
	}
	defer d.Leave()
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) != "effort" || r.Peek() == 'n' {
			it.Err = r.Skip()
			continue
		}
		var effort string
		if effort, it.Err = d.OptString("effort"); it.Err == nil && effort != "" {
			if d.req.Extra == nil {
				d.req.Extra = map[string]json.RawMessage{}
			}
			b, _ := json.Marshal(effort)
			d.req.Extra["reasoning_effort"] = b
		}
	}
	return it.Err
}

// metadata reads metadata: at most 16 string pairs, echoed back.
func (d *responsesDecoder) metadata() (json.RawMessage, error) {
	r := &d.R
	start := r.Offset()
	if ok, err := d.EnterObject("metadata", "an object of strings"); !ok || err != nil {
		return nil, err
	}
	defer d.Leave()
	var it wire.Iter
	n := 0
	for r.Member(&it) {
		if n++; n > MaxMetadata {
			return nil, d.TooMany("", MaxMetadata, "pairs")
		}
		if r.Peek() != '"' {
			return nil, d.WrongType(string(it.Key), "a string")
		}
		it.Err = r.SkipStr()
	}
	if it.Err != nil {
		return nil, it.Err
	}
	r.Rewind(start)
	raw, err := r.Raw()
	return compact(raw), err
}
