package anthropic

import "github.com/edgeway/edgeway/edge/llm"

// Constants of the CountTokens estimate.
const (
	// bytesPerToken is the rough size of a token of English prose and
	// code in Claude's tokenizer. Other scripts take more tokens per
	// byte; CountTokens undercounts them.
	bytesPerToken = 4
	// messageOverhead counts the role markers around each turn.
	messageOverhead = 4
	// requestOverhead counts the markers around the whole prompt.
	requestOverhead = 3
	// imageTokens is what one image costs. Anthropic charges about
	// width*height/750 tokens and scales images down to about 1.15
	// megapixels, so ~1,600 tokens is the most one image costs; edgeway
	// does not decode images to learn their size.
	imageTokens = 1600
	// toolsOverhead is the tool-use system prompt Anthropic adds when a
	// request has tools (346 tokens for Claude 4 models with tool_choice
	// auto or none).
	toolsOverhead = 346
	// toolOverhead counts the markers around one tool definition.
	toolOverhead = 8
)

// CountTokens estimates the input tokens req would use, for
// /v1/messages/count_tokens when no upstream can count them. It is an
// estimate, not Anthropic's count: about four bytes of text per token,
// a few tokens per message and per tool for framing, a flat 1,600 per
// image and 346 for the tool-use system prompt when tools are present.
// Expect it within roughly ±25% of the real count for English text.
func CountTokens(req *llm.ChatRequest) int {
	n := requestOverhead
	for i := range req.Messages {
		m := &req.Messages[i]
		n += messageOverhead
		for j := range m.Content {
			p := &m.Content[j]
			if p.Type == llm.PartImage {
				n += imageTokens
				continue
			}
			n += textTokens(len(p.Text))
		}
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			n += textTokens(len(tc.ID)+len(tc.Name)+len(tc.Arguments)) + toolOverhead
		}
		if m.ToolCallID != "" {
			n += textTokens(len(m.ToolCallID)) + toolOverhead
		}
	}
	if len(req.Tools) > 0 {
		n += toolsOverhead
		for i := range req.Tools {
			t := &req.Tools[i]
			n += textTokens(len(t.Name)+len(t.Description)+len(t.Parameters)) + toolOverhead
		}
	}
	if rf := req.ResponseFormat; rf != nil {
		n += textTokens(len(rf.Schema))
	}
	return n
}

// textTokens is the token estimate of b bytes of text, rounded up.
func textTokens(b int) int {
	return (b + bytesPerToken - 1) / bytesPerToken
}
