package ollama

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"strconv"
	"strings"

	"github.com/ollama/ollama/api"

	"github.com/edgeway/edgeway/edge/llm"
)

// formatJSON is Ollama's format value for free-form JSON output.
var formatJSON = json.RawMessage(`"json"`)

// Chat streams a completion from /api/chat to emit. It always asks Ollama
// to stream. The *llm.Chunk passed to emit is reused between calls. Errors
// returned by emit are returned unchanged; all others are *llm.Error.
// Cancelling ctx, or emit failing, aborts the upstream request.
func (p *Provider) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	body, err := p.chatRequest(req)
	if err != nil {
		return llm.Usage{}, err
	}
	// Leaving with the response unread must stop the generation: cancel
	// closes the connection, and Ollama stops when its request ends.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := p.post(ctx, "chat", p.chatURL, body, "application/x-ndjson")
	if err != nil {
		return llm.Usage{}, err
	}
	defer resp.Body.Close()
	usage, err := p.readChat(ctx, resp.Body, emit)
	if err == nil {
		// Read the end of the chunked body so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxLineBytes))
	}
	return usage, err
}

// chatLine is one line of an /api/chat stream (an api.ChatResponse, or an
// error reported after the stream started), cut down to the fields used:
// skipping created_at and api.Message's second decoding pass saves about
// 40% of the allocations per token.
type chatLine struct {
	Model   string `json:"model"`
	Message struct {
		Content   string         `json:"content"`
		Thinking  string         `json:"thinking"`
		ToolCalls []api.ToolCall `json:"tool_calls"`
	} `json:"message"`
	Done            bool   `json:"done"`
	DoneReason      string `json:"done_reason"`
	PromptEvalCount int    `json:"prompt_eval_count"`
	EvalCount       int    `json:"eval_count"`
	Error           string `json:"error"`
}

// readChat turns an /api/chat NDJSON stream into chunks. It returns when
// the line with done:true has been emitted. A stream that ends before that
// line is an error: Ollama always sends it, so its absence means the
// server or the connection died.
func (p *Provider) readChat(ctx context.Context, body io.Reader, emit func(*llm.Chunk) error) (llm.Usage, error) {
	var (
		lr       = newLineReader(body, maxLineBytes)
		chunk    llm.Chunk
		deltas   []llm.ToolCallDelta
		usage    llm.Usage
		line     chatLine
		started  bool
		numCalls int
	)
	for {
		b, err := lr.next()
		if err == io.EOF {
			return usage, llm.Errorf(p.name, llm.KindServer, "chat: stream ended before done")
		}
		if err == errLineTooLong {
			return usage, llm.Errorf(p.name, llm.KindServer, "chat: stream line longer than %d bytes", maxLineBytes)
		}
		if err != nil {
			return usage, p.transportError(ctx, "chat", err)
		}
		line = chatLine{}
		if err := json.Unmarshal(b, &line); err != nil {
			return usage, llm.Errorf(p.name, llm.KindServer, "chat: decode stream line: %w", err)
		}
		if line.Error != "" {
			return usage, p.streamError(line.Error)
		}

		msg := &line.Message
		deltas = deltas[:0]
		for _, tc := range msg.ToolCalls {
			d, err := toolCallDelta(numCalls, tc)
			if err != nil {
				return usage, llm.Errorf(p.name, llm.KindServer, "chat: tool call: %w", err)
			}
			deltas = append(deltas, d)
			numCalls++
		}
		if msg.Content == "" && msg.Thinking == "" && len(deltas) == 0 && !line.Done {
			continue
		}

		chunk = llm.Chunk{Text: msg.Content, Reasoning: msg.Thinking, ToolCalls: deltas, Model: line.Model}
		if !started {
			chunk.Role = llm.RoleAssistant
			started = true
		}
		if line.Done {
			usage = llm.Usage{
				PromptTokens:     max(line.PromptEvalCount, 0),
				CompletionTokens: max(line.EvalCount, 0),
			}
			usage.TotalTokens = usage.PromptTokens + usage.CompletionTokens
			chunk.Usage = &usage
			chunk.FinishReason = finishReason(line.DoneReason, numCalls > 0)
		}
		if err := emit(&chunk); err != nil {
			return usage, err
		}
		if line.Done {
			return usage, nil
		}
	}
}

// toolCallDelta converts a whole Ollama tool call. Ollama names its calls
// itself ("call_xxxxxxxx"); older servers do not, and then the call is
// named by its position in the response.
func toolCallDelta(n int, tc api.ToolCall) (llm.ToolCallDelta, error) {
	args, err := json.Marshal(tc.Function.Arguments)
	if err != nil {
		return llm.ToolCallDelta{}, err
	}
	id := tc.ID
	if id == "" {
		id = "call_" + strconv.Itoa(n)
	}
	return llm.ToolCallDelta{Index: n, ID: id, Name: tc.Function.Name, Arguments: string(args)}, nil
}

// finishReason maps Ollama's done_reason. Ollama says "stop" even when the
// model stopped to call tools, so calls decide first. "load" and "unload"
// (a request that only loaded or unloaded the model) end like a stop.
func finishReason(doneReason string, toolCalls bool) llm.FinishReason {
	switch {
	case toolCalls:
		return llm.FinishToolCalls
	case doneReason == "length":
		return llm.FinishLength
	}
	return llm.FinishStop
}

// chatRequest maps req onto Ollama's /api/chat request. Failures are
// KindBadRequest (nothing about them would go better on another try),
// but for an image URL: Ollama takes only inline images, and a target
// that fetches URLs may serve it (KindUnsupported).
func (p *Provider) chatRequest(req *llm.ChatRequest) (*api.ChatRequest, error) {
	if req.Model == "" {
		return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: model is required")
	}
	if len(req.Messages) == 0 {
		return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: no messages")
	}
	stream := true
	out := &api.ChatRequest{
		Model:     req.Model,
		Stream:    &stream,
		KeepAlive: p.keepAlive,
		Options:   p.requestOptions(req),
		Messages:  make([]api.Message, 0, len(req.Messages)),
	}

	// Ollama's templates show a tool result with the tool's name, which
	// OpenAI-style tool messages leave out: find it from the call's id.
	var toolNames map[string]string
	for i := range req.Messages {
		m := &req.Messages[i]
		am := api.Message{Role: string(m.Role), Content: m.Text()}
		switch m.Role {
		case llm.RoleSystem, llm.RoleUser:
		case llm.RoleAssistant:
			for j, tc := range m.ToolCalls {
				args, err := toolArguments(tc.Arguments)
				if err != nil {
					return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: message %d: tool call %q: arguments: %w", i, tc.Name, err)
				}
				am.ToolCalls = append(am.ToolCalls, api.ToolCall{
					ID:       tc.ID,
					Function: api.ToolCallFunction{Index: j, Name: tc.Name, Arguments: args},
				})
				if tc.ID != "" {
					if toolNames == nil {
						toolNames = make(map[string]string)
					}
					toolNames[tc.ID] = tc.Name
				}
			}
		case llm.RoleTool:
			am.ToolCallID = m.ToolCallID
			am.ToolName = m.Name
			if am.ToolName == "" {
				am.ToolName = toolNames[m.ToolCallID]
			}
		default:
			return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: message %d: unsupported role %q", i, m.Role)
		}
		for _, part := range m.Content {
			if part.Type != llm.PartImage {
				continue
			}
			img, err := decodeImage(part.ImageURL)
			if err == errImageURL {
				// A target that fetches URLs (a cloud API) can serve it.
				return nil, llm.Errorf(p.name, llm.KindUnsupported, "chat: message %d: %w", i, err)
			}
			if err != nil {
				return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: message %d: %w", i, err)
			}
			am.Images = append(am.Images, img)
		}
		out.Messages = append(out.Messages, am)
	}

	if f := req.ResponseFormat; f != nil {
		switch f.Type {
		case "", "text":
		case "json_object":
			out.Format = formatJSON
		case "json_schema":
			schema := bytes.TrimSpace(f.Schema)
			switch {
			case len(schema) == 0:
				out.Format = formatJSON
			case json.Valid(schema):
				out.Format = json.RawMessage(schema)
			default:
				return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: response_format %q: schema is not valid JSON", f.Name)
			}
		default:
			return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: unsupported response_format type %q", f.Type)
		}
	}

	// Ollama has no tool_choice. "none" is honoured by not offering the
	// tools; "required" and a named function cannot be enforced, so the
	// tools are offered and the model decides.
	if req.ToolChoice != nil && req.ToolChoice.Mode == "none" {
		return out, nil
	}
	for _, t := range req.Tools {
		tool := api.Tool{Type: "function", Function: api.ToolFunction{Name: t.Name, Description: t.Description}}
		params := bytes.TrimSpace(t.Parameters)
		if len(params) == 0 || bytes.Equal(params, []byte("null")) {
			params = []byte(`{"type":"object","properties":{}}`)
		}
		if err := json.Unmarshal(params, &tool.Function.Parameters); err != nil {
			return nil, llm.Errorf(p.name, llm.KindBadRequest, "chat: tool %q: parameters: %w", t.Name, err)
		}
		out.Tools = append(out.Tools, tool)
	}
	return out, nil
}

// requestOptions merges the configured model options with the request's
// sampling fields; the request wins.
func (p *Provider) requestOptions(req *llm.ChatRequest) map[string]any {
	opts := make(map[string]any, len(p.options)+7)
	maps.Copy(opts, p.options)
	if req.Temperature != nil {
		opts["temperature"] = *req.Temperature
	}
	if req.TopK != nil {
		opts["top_k"] = *req.TopK
	}
	if req.TopP != nil {
		opts["top_p"] = *req.TopP
	}
	if req.Seed != nil {
		opts["seed"] = *req.Seed
	}
	if len(req.Stop) > 0 {
		opts["stop"] = req.Stop
	}
	if req.PresencePenalty != nil {
		opts["presence_penalty"] = *req.PresencePenalty
	}
	if req.FrequencyPenalty != nil {
		opts["frequency_penalty"] = *req.FrequencyPenalty
	}
	if req.MaxTokens != nil {
		opts["num_predict"] = *req.MaxTokens
	}
	return opts
}

// toolArguments parses the JSON text of a call's arguments; empty means no
// arguments.
func toolArguments(s string) (api.ToolCallFunctionArguments, error) {
	args := api.NewToolCallFunctionArguments()
	s = strings.TrimSpace(s)
	if s == "" || s == "null" {
		return args, nil
	}
	if s[0] != '{' {
		return args, errNotObject
	}
	err := json.Unmarshal([]byte(s), &args)
	return args, err
}

// decodeImage returns the bytes of an inline image. Ollama takes images
// only inline (base64 in its JSON); fetching URLs on the caller's behalf
// would make the gateway an open proxy, so http(s) URLs are refused.
func decodeImage(u string) (api.ImageData, error) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
			return nil, errImageURL
		}
		return nil, errImageScheme
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return nil, errImageEncoding
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		// Some clients drop the padding.
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(data, "=")); err != nil {
			return nil, errImageEncoding
		}
	}
	return api.ImageData(b), nil
}
