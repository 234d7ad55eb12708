package llm

import "strings"

// Aggregate collects a stream of chunks into a whole response, for clients
// that did not ask to stream. The zero value is ready to use; it is not safe
// for concurrent use.
type Aggregate struct {
	Role         Role
	Model        string
	Text         strings.Builder
	Reasoning    strings.Builder
	ToolCalls    []ToolCall
	FinishReason FinishReason
	Usage        Usage
	HasUsage     bool

	// --- Reasoning fidelity (issue 11) ---

	// ReasoningBlocks are the reasoning blocks in the order they came,
	// once any of them was signed or redacted (nil otherwise: Reasoning
	// is then one unsigned block). Each names its text as a range of
	// Reasoning, so the text is held once.
	ReasoningBlocks []ReasoningBlock
	// sealed says the last block of ReasoningBlocks is complete: a
	// signature or redaction ended it.
	sealed bool
	// blocks says ReasoningBlocks is being kept.
	blocks bool
}

// ReasoningBlock is one reasoning block of an aggregated answer: the text
// Reasoning[Start:End] with its Signature, or an encrypted Redacted block
// (then Start == End).
type ReasoningBlock struct {
	Start, End int
	Signature  string
	Redacted   string
}

// maxReasoningBlocks bounds ReasoningBlocks, so a hostile upstream cannot
// make Aggregate allocate without limit; past it, blocks are merged into
// the last one.
const maxReasoningBlocks = 256

// Add folds c into a. It copies everything it keeps.
func (a *Aggregate) Add(c *Chunk) {
	if c.Role != "" {
		a.Role = c.Role
	}
	if c.Model != "" && a.Model == "" {
		a.Model = c.Model
	}
	a.Text.WriteString(c.Text)
	a.addReasoning(c)
	for _, d := range c.ToolCalls {
		a.addToolDelta(d)
	}
	if c.FinishReason != "" {
		a.FinishReason = c.FinishReason
	}
	if c.Usage != nil {
		a.Usage = *c.Usage
		a.HasUsage = true
	}
}

// addReasoning appends c's reasoning, and keeps the block structure
// once a signature or a redacted block shows that it matters.
func (a *Aggregate) addReasoning(c *Chunk) {
	if !a.blocks && (c.Signature != "" || c.RedactedReasoning != "") {
		// Everything so far was one block.
		a.blocks = true
		if n := a.Reasoning.Len(); n > 0 {
			a.ReasoningBlocks = append(a.ReasoningBlocks[:0], ReasoningBlock{End: n})
		}
	}
	if !a.blocks {
		a.Reasoning.WriteString(c.Reasoning)
		return
	}
	open := func() *ReasoningBlock {
		n := len(a.ReasoningBlocks)
		if n == 0 || a.sealed && n < maxReasoningBlocks {
			p := a.Reasoning.Len()
			a.ReasoningBlocks = append(a.ReasoningBlocks, ReasoningBlock{Start: p, End: p})
			a.sealed = false
		}
		return &a.ReasoningBlocks[len(a.ReasoningBlocks)-1]
	}
	if c.Reasoning != "" {
		b := open()
		a.Reasoning.WriteString(c.Reasoning)
		b.End = a.Reasoning.Len()
	}
	if c.Signature != "" {
		b := open()
		b.Signature += c.Signature
		a.sealed = true
	}
	if c.RedactedReasoning != "" {
		a.sealed = true
		b := open()
		b.Redacted += c.RedactedReasoning
		a.sealed = true
	}
}

// maxToolCalls bounds how many parallel calls one response may hold, so a
// hostile upstream index cannot make Aggregate allocate without limit.
const maxToolCalls = 128

// addToolDelta maps a delta's Index onto a.ToolCalls; upstreams number
// parallel calls from 0, so the index is the position.
func (a *Aggregate) addToolDelta(d ToolCallDelta) {
	i := d.Index
	if i < 0 || i >= maxToolCalls {
		i = len(a.ToolCalls) - 1
		if i < 0 {
			i = 0
		}
	}
	for len(a.ToolCalls) <= i {
		a.ToolCalls = append(a.ToolCalls, ToolCall{})
	}
	tc := &a.ToolCalls[i]
	if d.ID != "" {
		tc.ID = d.ID
	}
	if d.Name != "" {
		tc.Name = d.Name
	}
	tc.Arguments += d.Arguments
}

// Reset empties a for reuse.
func (a *Aggregate) Reset() {
	a.Role, a.Model, a.FinishReason = "", "", ""
	a.Text.Reset()
	a.Reasoning.Reset()
	a.ToolCalls = a.ToolCalls[:0]
	a.Usage, a.HasUsage = Usage{}, false
	a.ReasoningBlocks, a.sealed, a.blocks = a.ReasoningBlocks[:0], false, false
}
