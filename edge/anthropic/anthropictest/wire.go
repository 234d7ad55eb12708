package anthropictest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/ingress"
)

// The request types below mirror Anthropic's Messages API request bodies,
// written from its API reference independently of package edge/anthropic
// so that tests through both check one against the other. The decoder
// rejects unknown fields everywhere, as Anthropic does.

// messagesRequest is a POST /v1/messages (or count_tokens) body.
type messagesRequest struct {
	Model             *string         `json:"model"`
	MaxTokens         *int            `json:"max_tokens"`
	Messages          []message       `json:"messages"`
	System            json.RawMessage `json:"system"`
	Stream            bool            `json:"stream"`
	StopSequences     []string        `json:"stop_sequences"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	TopK              *int            `json:"top_k"`
	Tools             []tool          `json:"tools"`
	ToolChoice        *toolChoice     `json:"tool_choice"`
	Metadata          *metadata       `json:"metadata"`
	OutputConfig      *outputConfig   `json:"output_config"`
	Thinking          json.RawMessage `json:"thinking"`
	ServiceTier       json.RawMessage `json:"service_tier"`
	Container         json.RawMessage `json:"container"`
	ContextManagement json.RawMessage `json:"context_management"`
	MCPServers        json.RawMessage `json:"mcp_servers"`
	InferenceGeo      json.RawMessage `json:"inference_geo"`
	CacheControl      json.RawMessage `json:"cache_control"`
}

type message struct {
	Role         string          `json:"role"`
	Content      json.RawMessage `json:"content"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// block is any content block; which fields apply depends on Type.
type block struct {
	Type         string          `json:"type"`
	Text         *string         `json:"text"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	IsError      bool            `json:"is_error"`
	Source       *imageSource    `json:"source"`
	Thinking     *string         `json:"thinking"`
	Signature    string          `json:"signature"`
	Data         string          `json:"data"`
	CacheControl json.RawMessage `json:"cache_control"`
	Citations    json.RawMessage `json:"citations"`
}

type imageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

type tool struct {
	Type         string          `json:"type"`
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
	Strict       *bool           `json:"strict"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use"`
}

type metadata struct {
	UserID *string `json:"user_id"`
}

type outputConfig struct {
	Format *struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	} `json:"format"`
	Effort json.RawMessage `json:"effort"`
}

// invalid is a validation failure: Anthropic's "param: message" text.
type invalid struct{ param, msg string }

func (v *invalid) message() string {
	if v.param == "" {
		return v.msg
	}
	return v.param + ": " + v.msg
}

// decodeRequest parses a body strictly. count is true for count_tokens,
// where max_tokens is not required; extra are top-level fields accepted
// beyond the known ones; systemTurns allows role "system" turns.
func decodeRequest(body []byte, req *messagesRequest, count bool, extra []string, systemTurns bool) *invalid {
	if len(extra) > 0 {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			for _, k := range extra {
				delete(m, k)
			}
			body, _ = json.Marshal(m)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
			name, _ = strconv.Unquote(name)
			return &invalid{name, "Extra inputs are not permitted"}
		}
		if !json.Valid(body) {
			return &invalid{"", "There was an error parsing the body of your request. Please make sure it is valid JSON."}
		}
		return &invalid{"", "Invalid request body: " + msg}
	}
	if dec.More() {
		return &invalid{"", "There was an error parsing the body of your request. Please make sure it is valid JSON."}
	}
	return validate(req, count, systemTurns)
}

var imageMediaTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

func validate(req *messagesRequest, count, systemTurns bool) *invalid {
	switch {
	case req.Model == nil:
		return &invalid{"model", "Field required"}
	case *req.Model == "":
		return &invalid{"model", "String should have at least 1 character"}
	case req.MaxTokens == nil && !count:
		return &invalid{"max_tokens", "Field required"}
	case req.MaxTokens != nil && *req.MaxTokens < 1:
		return &invalid{"max_tokens", "Input should be greater than or equal to 1"}
	case req.Messages == nil:
		return &invalid{"messages", "Field required"}
	case len(req.Messages) == 0:
		return &invalid{"messages", "at least one message is required"}
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 1):
		return &invalid{"temperature", "Input should be less than or equal to 1"}
	case req.TopP != nil && (*req.TopP < 0 || *req.TopP > 1):
		return &invalid{"top_p", "Input should be less than or equal to 1"}
	case req.TopK != nil && *req.TopK < 0:
		return &invalid{"top_k", "Input should be greater than or equal to 0"}
	}
	if v := validateSystem(req.System); v != nil {
		return v
	}
	for i, m := range req.Messages {
		p := "messages." + strconv.Itoa(i)
		if m.Role == "system" && systemTurns {
			// Anthropic's placement rules for mid-conversation system
			// messages.
			if i == 0 || req.Messages[i-1].Role == "system" {
				return &invalid{p, "a system message must follow a user or assistant message"}
			}
			if i+1 < len(req.Messages) && req.Messages[i+1].Role != "assistant" {
				return &invalid{p, "a system message must be the last message or be followed by an assistant message"}
			}
			if v := validateSystem(m.Content); v != nil {
				v.param = p + ".content" + strings.TrimPrefix(v.param, "system")
				return v
			}
			continue
		}
		if m.Role != "user" && m.Role != "assistant" {
			return &invalid{p + ".role", "Input should be 'user' or 'assistant'"}
		}
		final := i == len(req.Messages)-1 && m.Role == "assistant"
		if v := validateContent(p, m.Role, m.Content, final); v != nil {
			return v
		}
	}
	for i, t := range req.Tools {
		p := "tools." + strconv.Itoa(i)
		if t.Type != "" && t.Type != "custom" {
			return &invalid{p + ".type", "server tools are not supported by this fake"}
		}
		if !ingress.ValidName(t.Name, 128) {
			return &invalid{p + ".custom.name", "String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"}
		}
		var schema struct {
			Type string `json:"type"`
		}
		if len(t.InputSchema) == 0 || json.Unmarshal(t.InputSchema, &schema) != nil {
			return &invalid{p + ".custom.input_schema", "Input should be a valid dictionary"}
		}
		if schema.Type != "object" {
			return &invalid{p + ".custom.input_schema.type", "Input should be 'object'"}
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any", "none":
			if tc.Name != "" {
				return &invalid{"tool_choice." + tc.Type + ".name", "Extra inputs are not permitted"}
			}
			if tc.Type == "none" && tc.DisableParallelToolUse != nil {
				return &invalid{"tool_choice.none.disable_parallel_tool_use", "Extra inputs are not permitted"}
			}
		case "tool":
			if tc.Name == "" {
				return &invalid{"tool_choice.tool.name", "Field required"}
			}
		default:
			return &invalid{"tool_choice", "Input tag '" + tc.Type + "' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'"}
		}
	}
	if oc := req.OutputConfig; oc != nil && oc.Format != nil {
		if oc.Format.Type != "json_schema" {
			return &invalid{"output_config.format.type", "Input should be 'json_schema'"}
		}
		if !bytes.HasPrefix(bytes.TrimSpace(oc.Format.Schema), []byte("{")) {
			return &invalid{"output_config.format.schema", "Input should be a valid dictionary"}
		}
	}
	return nil
}

func validateSystem(raw json.RawMessage) *invalid {
	if len(raw) == 0 || string(raw) == "null" || raw[0] == '"' {
		return nil
	}
	var blocks []block
	if json.Unmarshal(raw, &blocks) != nil {
		return &invalid{"system", "Input should be a valid string"}
	}
	for i, b := range blocks {
		p := "system." + strconv.Itoa(i)
		if b.Type != "text" {
			return &invalid{p + ".type", "Input tag '" + b.Type + "' found using 'type' does not match any of the expected tags: 'text'"}
		}
		if b.Text == nil || *b.Text == "" {
			return &invalid{p + ".text", "text content blocks must be non-empty"}
		}
	}
	return nil
}

func validateContent(p, role string, raw json.RawMessage, final bool) *invalid {
	const nonEmpty = "all messages must have non-empty content except for the optional final assistant message"
	if len(raw) == 0 {
		return &invalid{p + ".content", "Field required"}
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		if s == "" && !final {
			return &invalid{p, nonEmpty}
		}
		return nil
	}
	var blocks []block
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return &invalid{p + ".content", "Input should be a valid list"}
	}
	if len(blocks) == 0 && !final {
		return &invalid{p, nonEmpty}
	}
	for j, b := range blocks {
		bp := p + ".content." + strconv.Itoa(j)
		if v := validateBlock(bp, role, &b); v != nil {
			return v
		}
	}
	return nil
}

func validateBlock(bp, role string, b *block) *invalid {
	tag := func(allowed string) *invalid {
		return &invalid{bp, "Input tag '" + b.Type + "' found using 'type' does not match any of the expected tags: " + allowed}
	}
	switch b.Type {
	case "text":
		if b.Text == nil {
			return &invalid{bp + ".text", "Field required"}
		}
		if *b.Text == "" {
			return &invalid{bp + ".text", "text content blocks must be non-empty"}
		}
	case "image":
		if role != "user" {
			return tag("'text', 'tool_use', 'thinking', 'redacted_thinking'")
		}
		return validateImage(bp, b.Source)
	case "tool_use":
		if role != "assistant" {
			return tag("'text', 'image', 'tool_result'")
		}
		if !ingress.ValidName(b.ID, 256) {
			return &invalid{bp + ".id", "String should match pattern '^[a-zA-Z0-9_-]+$'"}
		}
		if b.Name == "" {
			return &invalid{bp + ".name", "Field required"}
		}
		if !bytes.HasPrefix(bytes.TrimSpace(b.Input), []byte("{")) {
			return &invalid{bp + ".input", "Input should be a valid dictionary"}
		}
	case "tool_result":
		if role != "user" {
			return tag("'text', 'tool_use', 'thinking', 'redacted_thinking'")
		}
		if !ingress.ValidName(b.ToolUseID, 256) {
			return &invalid{bp + ".tool_use_id", "String should match pattern '^[a-zA-Z0-9_-]+$'"}
		}
		if len(b.Content) > 0 && b.Content[0] == '[' {
			var inner []block
			if json.Unmarshal(b.Content, &inner) != nil {
				return &invalid{bp + ".content", "Input should be a valid list"}
			}
			for k, ib := range inner {
				ip := bp + ".content." + strconv.Itoa(k)
				if ib.Type != "text" && ib.Type != "image" {
					return &invalid{ip + ".type", "Input tag '" + ib.Type + "' found using 'type' does not match any of the expected tags: 'text', 'image'"}
				}
				if v := validateBlock(ip, "user", &ib); v != nil {
					return v
				}
			}
		}
	case "thinking", "redacted_thinking":
		if role != "assistant" {
			return tag("'text', 'image', 'tool_result'")
		}
	default:
		return &invalid{bp + ".type", "Input tag '" + b.Type + "' found using 'type' does not match any of the expected tags"}
	}
	return nil
}

func validateImage(bp string, src *imageSource) *invalid {
	if src == nil {
		return &invalid{bp + ".source", "Field required"}
	}
	switch src.Type {
	case "base64":
		if !imageMediaTypes[src.MediaType] {
			return &invalid{bp + ".source.base64.media_type", "Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'"}
		}
		if _, err := base64.StdEncoding.DecodeString(src.Data); err != nil || src.Data == "" {
			return &invalid{bp + ".source.base64.data", "Invalid base64 data"}
		}
	case "url":
		if !strings.HasPrefix(src.URL, "http://") && !strings.HasPrefix(src.URL, "https://") {
			return &invalid{bp + ".source.url.url", "Input should be a valid URL"}
		}
	default:
		return &invalid{bp + ".source", "Input tag '" + src.Type + "' found using 'type' does not match any of the expected tags: 'base64', 'url'"}
	}
	return nil
}

// promptWords counts the words (runs of non-whitespace) in the text of
// the system prompt and every message, the fake's input_tokens.
func promptWords(req *messagesRequest) int {
	n := textWords(req.System)
	for _, m := range req.Messages {
		n += textWords(m.Content)
	}
	return n
}

// textWords counts the words of a string, or of the text blocks (and
// tool_result contents) of a block array.
func textWords(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return countWords(s)
	}
	var blocks []block
	if json.Unmarshal(raw, &blocks) != nil {
		return 0
	}
	n := 0
	for _, b := range blocks {
		if b.Text != nil {
			n += countWords(*b.Text)
		}
		if b.Type == "tool_result" {
			n += textWords(b.Content)
		}
	}
	return n
}

func countWords(s string) int {
	return len(strings.Fields(s))
}

// jstr returns s as a JSON string literal.
func jstr(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
