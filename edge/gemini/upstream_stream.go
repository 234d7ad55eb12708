package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/edgeway/edgeway/edge/llm"
)

// Wire types of a GenerateContentResponse, as much of it as edgeway reads.
// Each SSE event of streamGenerateContent is one whole response holding
// the next parts of the candidate.
type wireResponse struct {
	Candidates     []wireCandidate `json:"candidates"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	UsageMetadata *wireUsage      `json:"usageMetadata"`
	ModelVersion  string          `json:"modelVersion"`
	Error         json.RawMessage `json:"error"`
}

type wireCandidate struct {
	Content *struct {
		Parts []wirePart `json:"parts"`
	} `json:"content"`
	FinishReason string `json:"finishReason"`
	Index        int    `json:"index"`
}

type wirePart struct {
	Text         *string `json:"text"`
	Thought      bool    `json:"thought"`
	FunctionCall *struct {
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
}

type wireUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
}

// chatStream turns a streamGenerateContent answer into llm.Chunks. One
// chatStream serves one request; it reuses a single Chunk for every emit.
//
// Responses are decoded with encoding/json: Gemini sends a few large
// events (whole sentences, not tokens), so reflection costs little here
// next to the network, unlike OpenAI's per-token chunks.
type chatStream struct {
	c        *Client
	chunk    llm.Chunk
	usage    llm.Usage
	sent     llm.Usage // the usage last emitted
	hasUsage bool
	started  bool // a chunk was emitted (the role goes on the first only)
	finished bool // a finishReason or a prompt block arrived
	calls    int  // function calls emitted, numbering the next one
	args     bytes.Buffer
	model    string
}

// Event takes one SSE event. The stream has no terminator: it is
// complete when a finishReason (or a prompt block) arrived.
func (s *chatStream) Event(_, data []byte, emit func(*llm.Chunk) error) (bool, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "[DONE]" {
		return false, nil
	}
	return false, s.consume(data, emit)
}

// Whole takes a JSON answer: without alt=sse (a proxy dropped the query)
// the API answers with an array of the same responses; a non-streaming
// proxy answers with one object.
func (s *chatStream) Whole(b []byte, emit func(*llm.Chunk) error) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(b, &list); err != nil {
			return s.c.up.Malformed("chat", err)
		}
		for _, raw := range list {
			if err := s.consume(raw, emit); err != nil {
				return err
			}
		}
	} else if err := s.consume(b, emit); err != nil {
		return err
	}
	return s.End(emit)
}

// End checks that the answer finished and emits usage that arrived after
// the finishing chunk.
func (s *chatStream) End(emit func(*llm.Chunk) error) error {
	if !s.finished {
		return s.c.up.StreamCut("chat", "no finishReason", nil)
	}
	if s.hasUsage && s.usage != s.sent {
		s.chunk = llm.Chunk{ToolCalls: s.chunk.ToolCalls[:0], Usage: &s.usage, Model: s.model}
		s.sent = s.usage
		return s.emit(emit)
	}
	return nil
}

// consume parses one GenerateContentResponse and emits a chunk when it
// carries anything.
func (s *chatStream) consume(data []byte, emit func(*llm.Chunk) error) error {
	var w wireResponse
	if err := json.Unmarshal(data, &w); err != nil {
		return s.c.up.Malformed("chat", err)
	}
	if len(w.Error) > 0 && string(w.Error) != "null" {
		return s.c.up.EventError("chat", data)
	}
	c := &s.chunk
	*c = llm.Chunk{ToolCalls: c.ToolCalls[:0]}
	if w.ModelVersion != "" {
		if w.ModelVersion != s.model {
			s.model = w.ModelVersion
		}
		c.Model = s.model
	}
	if w.UsageMetadata != nil {
		s.usage = usageOf(w.UsageMetadata)
		s.hasUsage = true
	}
	for i := range w.Candidates {
		cand := &w.Candidates[i]
		if cand.Index != 0 {
			continue // edgeway asks for one candidate
		}
		if cand.Content != nil {
			if err := s.parts(cand.Content.Parts); err != nil {
				return s.c.up.Malformed("chat", err)
			}
		}
		if r := cand.FinishReason; r != "" && r != "FINISH_REASON_UNSPECIFIED" {
			c.FinishReason = s.finishReason(r)
			s.finished = true
		}
	}
	if pf := w.PromptFeedback; pf != nil && pf.BlockReason != "" && pf.BlockReason != "BLOCK_REASON_UNSPECIFIED" {
		// The prompt itself was refused: no candidates, no content.
		c.FinishReason = llm.FinishContentFilter
		s.finished = true
	}
	if c.FinishReason != "" && s.hasUsage {
		c.Usage = &s.usage
		s.sent = s.usage
	}
	if c.Text == "" && c.Reasoning == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" && c.Usage == nil {
		return nil
	}
	return s.emit(emit)
}

// emit sends the chunk; the role goes on the first chunk only.
func (s *chatStream) emit(emit func(*llm.Chunk) error) error {
	s.chunk.Role = ""
	if !s.started {
		s.chunk.Role = llm.RoleAssistant
		s.started = true
	}
	return emit(&s.chunk)
}

// parts folds a candidate's parts into the chunk: text, thoughts as
// Reasoning, and each functionCall as one complete ToolCallDelta. Gemini
// sends calls whole and usually without ids, so they are numbered
// "call_<n>" in stream order: unique within the answer and stable, which
// keeps cached answers identical. An id Gemini does send is not used:
// results go back matched by name, and mixing its ids with generated ones
// could repeat one.
func (s *chatStream) parts(parts []wirePart) error {
	c := &s.chunk
	for i := range parts {
		p := &parts[i]
		switch {
		case p.FunctionCall != nil:
			fc := p.FunctionCall
			if fc.Name == "" {
				return errors.New("functionCall without a name")
			}
			args := "{}"
			if raw := bytes.TrimSpace(fc.Args); len(raw) > 0 && string(raw) != "null" {
				s.args.Reset()
				if err := json.Compact(&s.args, raw); err != nil {
					return err
				}
				args = s.args.String()
			}
			id := "call_" + strconv.Itoa(s.calls)
			c.ToolCalls = append(c.ToolCalls, llm.ToolCallDelta{Index: s.calls, ID: id, Name: fc.Name, Arguments: args})
			s.calls++
		case p.Text != nil && p.Thought:
			c.Reasoning += *p.Text
		case p.Text != nil:
			c.Text += *p.Text
		}
	}
	return nil
}

// finishReason maps Gemini's finish reasons. STOP after function calls is
// tool_calls (Gemini has no separate reason); the safety family is
// content_filter; everything else that ends a turn (OTHER,
// MALFORMED_FUNCTION_CALL, reasons added later) is stop, since what was
// sent is all there is.
func (s *chatStream) finishReason(r string) llm.FinishReason {
	switch r {
	case "MAX_TOKENS":
		return llm.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return llm.FinishContentFilter
	}
	if s.calls > 0 {
		return llm.FinishToolCalls
	}
	return llm.FinishStop
}

// usageOf maps usageMetadata. Thinking tokens are billed as output, so
// they count as completion tokens; tool-use prompt tokens as prompt.
func usageOf(u *wireUsage) llm.Usage {
	// A hostile upstream's negative counts must not reduce accounting.
	out := llm.Usage{
		PromptTokens:     max(u.PromptTokenCount, 0) + max(u.ToolUsePromptTokenCount, 0),
		CompletionTokens: max(u.CandidatesTokenCount, 0) + max(u.ThoughtsTokenCount, 0),
		TotalTokens:      max(u.TotalTokenCount, 0),
		CachedTokens:     max(u.CachedContentTokenCount, 0),
	}
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	return out
}
