package pii

import (
	"context"

	"github.com/edgeway/edgeway/edge/llm"
)

// redactKey marks a request context whose prompt is to be redacted before
// it reaches a cloud provider.
type redactKey struct{}

// WithRedaction returns ctx marked for redaction: a provider wrapped by
// Wrap replaces the personal data in a request made with it by
// placeholders and restores them in the answer.
//
// The mark travels in the context rather than on llm.ChatRequest because
// it is a fact about the caller, not about the completion: the router
// passes the context unchanged to whichever provider serves, the cache key
// (a hash of the request) is not disturbed, and only the decorator reads
// it. Local runtimes are not wrapped, so they get the original.
func WithRedaction(ctx context.Context) context.Context {
	return context.WithValue(ctx, redactKey{}, true)
}

// Redacting reports whether ctx was marked by WithRedaction.
func Redacting(ctx context.Context) bool {
	v, _ := ctx.Value(redactKey{}).(bool)
	return v
}

// Provider redacts the requests it is given under a marked context before
// they reach the provider it wraps (a cloud provider), and restores the
// placeholders in the answer, streamed or not. Unmarked requests pass
// through untouched. It is safe for concurrent use if the wrapped
// provider is.
type Provider struct {
	p llm.Provider
}

// Wrap returns p behind a redacting Provider. The result implements the
// optional interfaces (llm.Embedder, llm.ModelLister, llm.Pinger) that p
// implements, and no others, so the router sees the same abilities.
func Wrap(p llm.Provider) llm.Provider {
	r := &Provider{p: p}
	e, isE := p.(llm.Embedder)
	l, isL := p.(llm.ModelLister)
	g, isG := p.(llm.Pinger)
	switch {
	case isE && isL && isG:
		return struct {
			*Provider
			llm.Embedder
			llm.ModelLister
			llm.Pinger
		}{r, e, l, g}
	case isE && isL:
		return struct {
			*Provider
			llm.Embedder
			llm.ModelLister
		}{r, e, l}
	case isE && isG:
		return struct {
			*Provider
			llm.Embedder
			llm.Pinger
		}{r, e, g}
	case isL && isG:
		return struct {
			*Provider
			llm.ModelLister
			llm.Pinger
		}{r, l, g}
	case isE:
		return struct {
			*Provider
			llm.Embedder
		}{r, e}
	case isL:
		return struct {
			*Provider
			llm.ModelLister
		}{r, l}
	case isG:
		return struct {
			*Provider
			llm.Pinger
		}{r, g}
	}
	return r
}

// Name is the wrapped provider's.
func (r *Provider) Name() string { return r.p.Name() }

// Chat serves req through the wrapped provider, redacted when ctx is
// marked. req is never modified: a copy carries the placeholders, so a
// failover to a local runtime still gets the original.
func (r *Provider) Chat(ctx context.Context, req *llm.ChatRequest, emit func(*llm.Chunk) error) (llm.Usage, error) {
	if !Redacting(ctx) {
		return r.p.Chat(ctx, req, emit)
	}
	m := new(Mapping)
	creq, changed := m.RedactRequest(req)
	if !changed {
		return r.p.Chat(ctx, req, emit)
	}
	st := &stream{m: m, emit: emit, text: restorer{m: m}, reasoning: restorer{m: m}}
	u, err := r.p.Chat(ctx, creq, st.chunk)
	if err == nil {
		err = st.flush()
	}
	return u, err
}

// RedactRequest returns a copy of req with the personal data in its
// messages (text parts and tool-call arguments) replaced by placeholders,
// and whether there was any. Without any it returns req itself.
func (m *Mapping) RedactRequest(req *llm.ChatRequest) (*llm.ChatRequest, bool) {
	var msgs []llm.Message
	for i := range req.Messages {
		msg := &req.Messages[i]
		var parts []llm.Part
		for j := range msg.Content {
			if msg.Content[j].Type != llm.PartText {
				continue
			}
			t, ok := m.Redact(msg.Content[j].Text)
			if !ok {
				continue
			}
			if parts == nil {
				parts = append([]llm.Part(nil), msg.Content...)
			}
			parts[j].Text = t
		}
		var calls []llm.ToolCall
		for j := range msg.ToolCalls {
			a, ok := m.Redact(msg.ToolCalls[j].Arguments)
			if !ok {
				continue
			}
			if calls == nil {
				calls = append([]llm.ToolCall(nil), msg.ToolCalls...)
			}
			calls[j].Arguments = a
		}
		if parts == nil && calls == nil {
			continue
		}
		if msgs == nil {
			msgs = append([]llm.Message(nil), req.Messages...)
		}
		if parts != nil {
			msgs[i].Content = parts
		}
		if calls != nil {
			msgs[i].ToolCalls = calls
		}
	}
	if msgs == nil {
		return req, false
	}
	c := *req
	c.Messages = msgs
	if p := req.Passthrough; p != nil && len(p.Body) > 0 {
		// The client's body still holds what was redacted: the upstream
		// gets the canonical messages instead (the headers still go).
		cp := *p
		cp.Body = nil
		c.Passthrough = &cp
	}
	return &c, true
}

// maxToolStreams bounds the tool calls whose streamed arguments are
// restored; later ones (never seen in practice) pass unrestored.
const maxToolStreams = 16

// stream restores the placeholders in one streamed answer.
type stream struct {
	m               *Mapping
	emit            func(*llm.Chunk) error
	text, reasoning restorer
	tools           [maxToolStreams]restorer
	out             llm.Chunk
	calls           []llm.ToolCallDelta
}

func (s *stream) chunk(ch *llm.Chunk) error {
	final := ch.FinishReason != ""
	if final {
		// The answer ends here: nothing may stay held. Tool arguments held
		// from earlier chunks go out first, in their order.
		if err := s.flushTools(); err != nil {
			return err
		}
	}
	text, reasoning := s.text.feed(ch.Text), s.reasoning.feed(ch.Reasoning)
	if final {
		text += s.text.flush()
		reasoning += s.reasoning.flush()
	}
	changed := text != ch.Text || reasoning != ch.Reasoning
	calls := ch.ToolCalls
	for i := range ch.ToolCalls {
		tc := &ch.ToolCalls[i]
		if tc.Index < 0 || tc.Index >= maxToolStreams {
			continue
		}
		rs := &s.tools[tc.Index]
		rs.m = s.m
		a := rs.feed(tc.Arguments)
		if final {
			a += rs.flush()
		}
		if a == tc.Arguments {
			continue
		}
		if !changed || len(s.calls) != len(ch.ToolCalls) {
			s.calls = append(s.calls[:0], ch.ToolCalls...)
			calls = s.calls
		}
		calls[i].Arguments = a
		changed = true
	}
	if !changed {
		return s.emit(ch)
	}
	s.out = *ch
	s.out.Text, s.out.Reasoning, s.out.ToolCalls = text, reasoning, calls
	return s.emit(&s.out)
}

// flush emits what is still held once the provider is done (a stream
// that ended without a finish reason).
func (s *stream) flush() error {
	if err := s.flushTools(); err != nil {
		return err
	}
	text, reasoning := s.text.flush(), s.reasoning.flush()
	if text == "" && reasoning == "" {
		return nil
	}
	return s.emit(&llm.Chunk{Text: text, Reasoning: reasoning})
}

// flushTools emits the tool arguments still held.
func (s *stream) flushTools() error {
	var calls []llm.ToolCallDelta
	for i := range s.tools {
		if s.tools[i].held != "" {
			calls = append(calls, llm.ToolCallDelta{Index: i, Arguments: s.tools[i].flush()})
		}
	}
	if calls == nil {
		return nil
	}
	return s.emit(&llm.Chunk{ToolCalls: calls})
}
