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
}

// Add folds c into a. It copies everything it keeps.
func (a *Aggregate) Add(c *Chunk) {
	if c.Role != "" {
		a.Role = c.Role
	}
	if c.Model != "" && a.Model == "" {
		a.Model = c.Model
	}
	a.Text.WriteString(c.Text)
	a.Reasoning.WriteString(c.Reasoning)
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
}
