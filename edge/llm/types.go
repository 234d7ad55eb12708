package llm

import (
	"encoding/json"
	"time"
)

// Role names who wrote a message. The values match OpenAI's wire strings so
// the most common dialect needs no translation.
type Role string

// Roles.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// PartType says what a content part carries.
type PartType uint8

// Part types.
const (
	PartText PartType = iota
	PartImage
)

// Part is one piece of multi-part message content.
type Part struct {
	Type PartType
	Text string
	// ImageURL is an http(s) URL or a data: URL holding the image inline.
	ImageURL string
	// Detail is OpenAI's image detail hint ("auto", "low", "high"), or empty.
	Detail string
}

// Message is one turn of a conversation. Plain-text content is a single
// PartText part; Text returns it without allocation for that case.
type Message struct {
	Role    Role
	Content []Part
	// Name is the optional participant name.
	Name string
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall
	// ToolCallID links a RoleTool message to the call it answers.
	ToolCallID string
}

// Text returns the concatenated text parts of m.
func (m *Message) Text() string {
	if len(m.Content) == 1 && m.Content[0].Type == PartText {
		return m.Content[0].Text
	}
	var n int
	for i := range m.Content {
		n += len(m.Content[i].Text)
	}
	b := make([]byte, 0, n)
	for i := range m.Content {
		if m.Content[i].Type == PartText {
			b = append(b, m.Content[i].Text...)
		}
	}
	return string(b)
}

// Tool is a function the model may call. Parameters is a JSON Schema object,
// kept as raw JSON so it crosses dialects unchanged.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage
	Strict      *bool
}

// ToolCall is a complete call made by the model. Arguments is the JSON text
// of the arguments object exactly as the model produced it.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string
}

// ToolChoice constrains tool use: Mode is "auto", "none", "required" or
// "function" (then Name says which).
type ToolChoice struct {
	Mode string
	Name string
}

// ResponseFormat asks for structured output: Type is "text", "json_object"
// or "json_schema" (then Name, Schema and Strict describe it).
type ResponseFormat struct {
	Type        string
	Name        string
	Description string
	Schema      json.RawMessage
	Strict      *bool
}

// ChatRequest is a chat completion request in canonical form. Pointer fields
// are nil when the client did not set them, so a provider forwards only what
// was asked for.
type ChatRequest struct {
	// Model is the name the client asked for until the router resolves it;
	// a Provider receives the upstream model name.
	Model    string
	Messages []Message

	// Stream records whether the client streams. Providers always stream
	// through emit; this only lets a provider pick the cheaper wire call.
	Stream bool

	Temperature *float64
	TopP        *float64
	// TopK is Anthropic's, Gemini's and Ollama's top_k; OpenAI has none.
	TopK             *int
	MaxTokens        *int
	Stop             []string
	Seed             *int64
	PresencePenalty  *float64
	FrequencyPenalty *float64
	ResponseFormat   *ResponseFormat

	Tools             []Tool
	ToolChoice        *ToolChoice
	ParallelToolCalls *bool

	// User is the end-user id the client passed, forwarded for abuse tracking.
	User string

	// Extra holds OpenAI request fields edgeway does not model (logprobs,
	// reasoning_effort, ...). OpenAI-wire providers forward them verbatim;
	// other providers ignore them.
	Extra map[string]json.RawMessage

	// --- Same-dialect passthrough (issue 11) ---

	// Passthrough is the client's request as it came, kept by an ingress
	// whose dialect has more than the canonical form holds (thinking,
	// prompt-cache breakpoints, betas, ...). A provider speaking that
	// same dialect sends it instead of translating the canonical fields,
	// so nothing is lost; every other provider ignores it. nil when the
	// ingress keeps none. Anything that rewrites the canonical messages
	// (PII redaction) must clear it, or the rewrite would not reach the
	// upstream.
	Passthrough *Passthrough
}

// Passthrough is a client's original request for an upstream of the same
// dialect. It is read-only once the ingress built it; providers and the
// cache share it.
type Passthrough struct {
	// Dialect names the wire Body is in ("anthropic").
	Dialect string
	// Body is the client's request body, verbatim.
	Body []byte
	// Headers are the client's request headers the upstream should also
	// get (anthropic-beta), in the order they came.
	Headers []Header
	// Dropped names what the canonical form does not carry (fields,
	// block kinds, headers: "thinking", "cache_control",
	// "anthropic-beta", ...), sorted and without duplicates: what an
	// upstream of another dialect never sees. Empty when the canonical
	// form holds the whole request.
	Dropped []string
}

// Header is one HTTP header field.
type Header struct {
	Name, Value string
}

// FinishReason says why generation stopped, in OpenAI's vocabulary.
type FinishReason string

// Finish reasons.
const (
	FinishStop          FinishReason = "stop"
	FinishLength        FinishReason = "length"
	FinishToolCalls     FinishReason = "tool_calls"
	FinishContentFilter FinishReason = "content_filter"
)

// ToolCallDelta is a streamed fragment of a tool call. The first fragment of
// a call carries ID and Name; later ones append to Arguments. Index tells
// parallel calls apart.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Chunk is one streamed piece of a completion. A provider reuses its Chunk
// between emits: the receiver must copy what it keeps before returning.
type Chunk struct {
	// Role is set on the first chunk of a message.
	Role Role
	// Text is the content delta.
	Text string
	// Reasoning is a reasoning ("thinking") delta, for models that expose it.
	Reasoning string
	ToolCalls []ToolCallDelta
	// FinishReason is set on the chunk that ends the choice.
	FinishReason FinishReason
	// Usage is set when the upstream reports token counts (usually last).
	Usage *Usage
	// Model is the model name the upstream reported, when it did.
	Model string

	// --- Reasoning fidelity (issue 11) ---

	// Signature is the upstream's signature over the reasoning block
	// streamed so far (Anthropic's signature_delta), which a client sends
	// back with that block in later turns. It ends the block: reasoning
	// after it starts a new one. A signature may come with no reasoning
	// text at all (thinking the upstream did not show).
	Signature string
	// RedactedReasoning is a reasoning block the upstream sent encrypted
	// (Anthropic's redacted_thinking data), a block of its own, passed
	// back to the upstream unchanged in later turns.
	RedactedReasoning string
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	TotalTokens      int
	// CachedTokens is the part of PromptTokens the upstream served from its
	// own prompt cache, when it says.
	CachedTokens int
	// CacheWriteTokens is the part of PromptTokens the upstream wrote to
	// its prompt cache (Anthropic's cache_creation_input_tokens).
	CacheWriteTokens int
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.PromptTokens += o.PromptTokens
	u.CompletionTokens += o.CompletionTokens
	u.TotalTokens += o.TotalTokens
	u.CachedTokens += o.CachedTokens
	u.CacheWriteTokens += o.CacheWriteTokens
}

// EmbedRequest asks for embeddings of one or more inputs.
type EmbedRequest struct {
	Model string
	Input []string
	// Dimensions asks models that support it for shorter vectors.
	Dimensions *int
	User       string
}

// EmbedResponse holds one vector per input, in input order.
type EmbedResponse struct {
	Model   string
	Vectors [][]float32
	Usage   Usage
}

// Model describes a model a provider serves.
type Model struct {
	// ID is the name clients use: "provider/model" or an alias.
	ID       string
	Provider string
	OwnedBy  string
	Created  time.Time
}
