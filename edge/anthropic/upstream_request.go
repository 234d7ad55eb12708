package anthropic

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/upstream"
)

// wireOptions shape the upstream body.
type wireOptions struct {
	// defaultMaxTokens is sent when the request sets no limit: Anthropic
	// requires max_tokens.
	defaultMaxTokens int
}

// emptySchema is the input_schema of a tool declared without parameters.
const emptySchema = `{"type":"object","properties":{}}`

// appendMessagesRequest appends the upstream /messages body for req. It
// always asks for a stream.
//
// The translation: the leading system messages become the top-level
// system, one text block per part; a later system message (a
// mid-conversation one) stands in place as a role "system" turn when the
// request's passthrough headers carry the beta that allows it, and is
// otherwise folded into the user turn it stands in as a
// <system-reminder> text block; RoleTool messages become
// tool_result blocks of a user turn; consecutive turns of one role are
// merged, with tool_result blocks first as Anthropic requires; assistant
// ToolCalls become tool_use blocks whose input is the parsed arguments
// ({} when they are not a JSON object); a data: URL image becomes a
// base64 source and an http(s) URL a url source; empty text parts are
// dropped (Anthropic refuses empty text blocks) and a turn left empty is
// dropped. Tool call ids are made to fit Anthropic's ^[a-zA-Z0-9_-]+$.
// ResponseFormat json_schema becomes output_config.format (structured
// outputs); json_object has no Anthropic equivalent and is dropped: the
// OpenAI API makes clients ask for JSON in the prompt with it, so the
// instruction still reaches the model. Seed, penalties and Extra have no
// Anthropic equivalent and are dropped.
//
// It fails, before anything is sent, on what Anthropic would refuse:
// a temperature above 1, raw JSON (schemas) that does not parse, an
// image URL it cannot carry, a tool result without a call id.
func appendMessagesRequest(dst []byte, req *llm.ChatRequest, o wireOptions) ([]byte, error) {
	if req.Temperature != nil && *req.Temperature > 1 {
		return nil, errors.New("temperature " + strconv.FormatFloat(*req.Temperature, 'g', -1, 64) + " is above Anthropic's maximum of 1")
	}
	dst = append(dst, `{"model":`...)
	dst = wire.AppendString(dst, req.Model)
	dst = append(dst, `,"max_tokens":`...)
	maxTokens := o.defaultMaxTokens
	if req.MaxTokens != nil {
		maxTokens = *req.MaxTokens
	}
	dst = strconv.AppendInt(dst, int64(maxTokens), 10)
	lead := leadingSystem(req.Messages)
	dst = appendSystem(dst, req.Messages[:lead])
	dst = append(dst, `,"messages":[`...)
	var err error
	if dst, err = appendTurns(dst, req.Messages, lead, systemInPlace(req.Passthrough)); err != nil {
		return nil, err
	}
	dst = append(dst, `],"stream":true`...)
	dst = upstream.AppendFloatField(dst, "temperature", req.Temperature)
	if req.Temperature == nil {
		// Current Claude models refuse temperature and top_p together
		// ("use only one"); OpenAI and Ollama clients often send both, so
		// temperature, the one every client sets, wins.
		dst = upstream.AppendFloatField(dst, "top_p", req.TopP)
	}
	dst = upstream.AppendIntField(dst, "top_k", req.TopK)
	if len(req.Stop) > 0 {
		dst = upstream.AppendStrings(append(dst, `,"stop_sequences":`...), req.Stop)
	}
	if len(req.Tools) > 0 {
		if dst, err = appendTools(dst, req); err != nil {
			return nil, err
		}
	}
	if req.User != "" {
		dst = append(dst, `,"metadata":{"user_id":`...)
		dst = wire.AppendString(dst, req.User)
		dst = append(dst, '}')
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type == "json_schema" {
		if !json.Valid(rf.Schema) {
			return nil, errors.New("response_format schema " + errNotJSON.Error())
		}
		dst = append(dst, `,"output_config":{"format":{"type":"json_schema","schema":`...)
		dst = append(dst, rf.Schema...)
		dst = append(dst, "}}"...)
	}
	return append(dst, '}'), nil
}

// errNotJSON is returned when raw JSON carried by a request (a schema)
// does not parse, so it cannot be spliced into the upstream body.
var errNotJSON = errors.New("is not valid JSON")

// leadingSystem returns the number of system messages msgs starts with.
func leadingSystem(msgs []llm.Message) int {
	for i := range msgs {
		if msgs[i].Role != llm.RoleSystem {
			return i
		}
	}
	return len(msgs)
}

// appendSystem writes the top-level system from the system messages in
// msgs: a string when there is one text part, else text blocks.
func appendSystem(dst []byte, msgs []llm.Message) []byte {
	n := 0
	var only string
	for i := range msgs {
		if msgs[i].Role != llm.RoleSystem {
			continue
		}
		for _, p := range msgs[i].Content {
			if p.Type == llm.PartText && p.Text != "" {
				n++
				only = p.Text
			}
		}
	}
	switch n {
	case 0:
		return dst
	case 1:
		dst = append(dst, `,"system":`...)
		return wire.AppendString(dst, only)
	}
	dst = append(dst, `,"system":[`...)
	first := true
	for i := range msgs {
		if msgs[i].Role != llm.RoleSystem {
			continue
		}
		for _, p := range msgs[i].Content {
			if p.Type != llm.PartText || p.Text == "" {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendTextBlock(dst, p.Text)
		}
	}
	return append(dst, ']')
}

func appendTextBlock(dst []byte, text string) []byte {
	dst = append(dst, `{"type":"text","text":`...)
	dst = wire.AppendString(dst, text)
	return append(dst, '}')
}

// wireRole is the Anthropic role of the turn message i is sent in: ""
// for the leading system messages (i < lead), which go to the top-level
// system; a later system message is a "system" turn when inPlace, else
// part of a user turn.
func wireRole(msgs []llm.Message, i, lead int, inPlace bool) llm.Role {
	switch msgs[i].Role {
	case llm.RoleSystem:
		switch {
		case i < lead:
			return ""
		case inPlace:
			return llm.RoleSystem
		}
	case llm.RoleAssistant:
		return llm.RoleAssistant
	}
	return llm.RoleUser
}

// appendTurns writes the messages array: runs of messages with the same
// wire role become one turn. The first lead messages are the top-level
// system's.
func appendTurns(dst []byte, msgs []llm.Message, lead int, inPlace bool) ([]byte, error) {
	// The last non-empty assistant turn may be a prefill; Anthropic
	// refuses one that ends in whitespace.
	last := -1
	for i := len(msgs) - 1; i >= lead; i-- {
		if wireRole(msgs, i, lead, inPlace) != "" {
			last = i
			break
		}
	}
	first := true
	for i := lead; i < len(msgs); {
		role := wireRole(msgs, i, lead, inPlace)
		j := i + 1
		for j < len(msgs) && wireRole(msgs, j, lead, inPlace) == role {
			j++
		}
		run := msgs[i:j]
		i = j
		mark := len(dst)
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"role":"`...)
		dst = append(dst, role...)
		dst = append(dst, `","content":[`...)
		blocks := len(dst)
		var err error
		switch role {
		case llm.RoleAssistant:
			dst = appendAssistantBlocks(dst, run, last < j)
		case llm.RoleSystem:
			for k := range run {
				dst, _, _ = appendPartBlocks(dst, textOnly(run[k].Content), len(dst) > blocks)
			}
		default:
			if dst, err = appendUserBlocks(dst, run); err != nil {
				return nil, err
			}
		}
		if len(dst) == blocks {
			// Nothing to say in this turn (empty texts only): Anthropic
			// refuses empty turns, so leave it out.
			dst = dst[:mark]
			continue
		}
		first = false
		dst = append(dst, "]}"...)
	}
	return dst, nil
}

// appendAssistantBlocks writes the text and tool_use blocks of a run of
// assistant messages, each message's text before its calls.
func appendAssistantBlocks(dst []byte, run []llm.Message, final bool) []byte {
	comma := false
	// lastMsg and lastPart locate the final text part of a final turn: a
	// prefill, which Anthropic refuses when it ends in whitespace.
	lastMsg, lastPart := -1, -1
	if final {
		for i := len(run) - 1; i >= 0 && lastMsg < 0; i-- {
			if run[i].Role == llm.RoleSystem {
				continue
			}
			if len(run[i].ToolCalls) > 0 {
				break
			}
			for k := len(run[i].Content) - 1; k >= 0; k-- {
				if p := run[i].Content[k]; p.Type == llm.PartText && p.Text != "" {
					lastMsg, lastPart = i, k
					break
				}
			}
		}
	}
	for i := range run {
		m := &run[i]
		if m.Role == llm.RoleSystem {
			continue
		}
		for k, p := range m.Content {
			text := p.Text
			if i == lastMsg && k == lastPart {
				text = strings.TrimRight(text, " \t\r\n")
			}
			if p.Type != llm.PartText || text == "" {
				// Anthropic takes no images from the assistant; an image
				// there can only be a client's replay and carries nothing
				// the model needs.
				continue
			}
			if comma {
				dst = append(dst, ',')
			}
			comma = true
			dst = appendTextBlock(dst, text)
		}
		for k := range m.ToolCalls {
			tc := &m.ToolCalls[k]
			if comma {
				dst = append(dst, ',')
			}
			comma = true
			dst = append(dst, `{"type":"tool_use","id":`...)
			dst = appendWireID(dst, tc.ID)
			dst = append(dst, `,"name":`...)
			dst = wire.AppendString(dst, tc.Name)
			dst = append(dst, `,"input":`...)
			dst = appendToolInput(dst, tc.Arguments)
			dst = append(dst, '}')
		}
	}
	return dst
}

// appendUserBlocks writes a run of user and tool messages: every
// tool_result first, in order, then the other blocks, in order.
func appendUserBlocks(dst []byte, run []llm.Message) ([]byte, error) {
	comma := false
	var err error
	for i := range run {
		m := &run[i]
		if m.Role != llm.RoleTool {
			continue
		}
		if m.ToolCallID == "" {
			return nil, errors.New("tool message without tool_call_id")
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		dst = append(dst, `{"type":"tool_result","tool_use_id":`...)
		dst = appendWireID(dst, m.ToolCallID)
		if dst, err = appendToolResultContent(dst, m.Content); err != nil {
			return nil, err
		}
		dst = append(dst, '}')
	}
	for i := range run {
		m := &run[i]
		switch m.Role {
		case llm.RoleTool:
			continue
		case llm.RoleSystem:
			// A mid-conversation system message folded into the turn.
			if text := m.Text(); text != "" {
				if comma {
					dst = append(dst, ',')
				}
				comma = true
				dst = appendTextBlock(dst, reminderOpen+text+reminderClose)
			}
			continue
		}
		if dst, comma, err = appendPartBlocks(dst, m.Content, comma); err != nil {
			return nil, err
		}
	}
	return dst, nil
}

// textOnly returns the text parts of parts (a system turn takes no
// images), parts itself when all are text.
func textOnly(parts []llm.Part) []llm.Part {
	for i := range parts {
		if parts[i].Type != llm.PartText {
			out := make([]llm.Part, 0, len(parts))
			for _, p := range parts {
				if p.Type == llm.PartText {
					out = append(out, p)
				}
			}
			return out
		}
	}
	return parts
}

// appendPartBlocks writes parts as text and image blocks, leaving out
// empty texts; comma says a block stands before them, and the result
// whether one does after.
func appendPartBlocks(dst []byte, parts []llm.Part, comma bool) ([]byte, bool, error) {
	var err error
	for _, p := range parts {
		if p.Type == llm.PartText && p.Text == "" {
			continue
		}
		if comma {
			dst = append(dst, ',')
		}
		comma = true
		if p.Type == llm.PartImage {
			if dst, err = appendImageBlock(dst, p.ImageURL); err != nil {
				return nil, false, err
			}
			continue
		}
		dst = appendTextBlock(dst, p.Text)
	}
	return dst, comma, nil
}

// appendToolResultContent writes a tool_result's content: a string for
// one text part, blocks otherwise, nothing when empty.
func appendToolResultContent(dst []byte, parts []llm.Part) ([]byte, error) {
	n, image := 0, false
	for _, p := range parts {
		if p.Type == llm.PartImage {
			image = true
			n++
		} else if p.Text != "" {
			n++
		}
	}
	switch {
	case n == 0:
		return dst, nil
	case n == 1 && !image:
		for _, p := range parts {
			if p.Text != "" {
				dst = append(dst, `,"content":`...)
				return wire.AppendString(dst, p.Text), nil
			}
		}
	}
	dst, _, err := appendPartBlocks(append(dst, `,"content":[`...), parts, false)
	if err != nil {
		return nil, err
	}
	return append(dst, ']'), nil
}

// appendImageBlock writes an image block for a data: URL (a base64
// source) or an http(s) URL (a url source).
func appendImageBlock(dst []byte, u string) ([]byte, error) {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		dst = append(dst, `{"type":"image","source":{"type":"url","url":`...)
		dst = wire.AppendString(dst, u)
		return append(dst, "}}"...), nil
	}
	media, data, ok := parseDataURL(u)
	if !ok {
		return nil, errors.New("image URL must be http(s) or a base64 data: URL")
	}
	if !imageTypes[media] {
		return nil, errors.New("image media type " + strconv.Quote(media) + " is not one Anthropic accepts (jpeg, png, gif, webp)")
	}
	dst = append(dst, `{"type":"image","source":{"type":"base64","media_type":"`...)
	dst = append(dst, media...)
	dst = append(dst, `","data":`...)
	dst = wire.AppendString(dst, data)
	return append(dst, "}}"...), nil
}

// parseDataURL splits "data:image/png;base64,AAAA" into its media type
// (lower case, image/jpg read as image/jpeg) and base64 data.
func parseDataURL(u string) (media, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	head, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	head, ok = strings.CutSuffix(head, ";base64")
	if !ok {
		return "", "", false
	}
	if i := strings.IndexByte(head, ';'); i >= 0 {
		head = head[:i] // parameters such as charset
	}
	media = strings.ToLower(strings.TrimSpace(head))
	if media == "image/jpg" {
		media = "image/jpeg"
	}
	return media, data, data != ""
}

// appendWireID writes a tool call id in Anthropic's alphabet
// (^[a-zA-Z0-9_-]+$): other bytes become '_'. The same id always maps to
// the same result, so a tool_use and its tool_result stay paired.
func appendWireID(dst []byte, id string) []byte {
	if id == "" {
		return append(dst, `"toolu_none"`...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			c = '_'
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// appendTools writes tools and tool_choice.
func appendTools(dst []byte, req *llm.ChatRequest) ([]byte, error) {
	dst = append(dst, `,"tools":[`...)
	for i := range req.Tools {
		t := &req.Tools[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = upstream.AppendNamed(append(dst, '{'), t.Name, t.Description)
		dst = append(dst, `,"input_schema":`...)
		if len(t.Parameters) == 0 || string(t.Parameters) == "null" {
			dst = append(dst, emptySchema...)
		} else {
			if !json.Valid(t.Parameters) {
				return nil, errors.New("tools[" + strconv.Itoa(i) + "].parameters " + errNotJSON.Error())
			}
			dst = append(dst, t.Parameters...)
		}
		dst = upstream.AppendBoolField(dst, "strict", t.Strict)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	noParallel := req.ParallelToolCalls != nil && !*req.ParallelToolCalls
	tc := req.ToolChoice
	if tc == nil && !noParallel {
		return dst, nil
	}
	mode := "auto"
	if tc != nil {
		mode = tc.Mode
	}
	dst = append(dst, `,"tool_choice":{"type":`...)
	switch mode {
	case "none":
		// tool_choice none takes no other member.
		return append(dst, `"none"}`...), nil
	case "required":
		dst = append(dst, `"any"`...)
	case "function":
		dst = append(dst, `"tool","name":`...)
		dst = wire.AppendString(dst, tc.Name)
	default:
		dst = append(dst, `"auto"`...)
	}
	if noParallel {
		dst = append(dst, `,"disable_parallel_tool_use":true`...)
	}
	return append(dst, '}'), nil
}
