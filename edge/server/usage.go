package server

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/limits"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/sync/usage"
)

// Ledger records each request's usage durably; *usage.Ledger implements
// it. Append returns once the record is on disk.
type Ledger interface {
	Append(r *usage.Record) error
}

// UsageReporter sums the ledger for the admin API; *usage.Ledger
// implements it.
type UsageReporter interface {
	Report(since time.Time, by, team string) ([]usage.Row, error)
	Stats() usage.Stats
}

// Pricer turns a provider's usage into dollars: known false when the
// model has no price (recorded as unknown, never as free). Estimate is
// what a request for model (an alias or provider/model) may cost, before
// routing, for a budget to reserve.
type Pricer interface {
	Cost(provider, model string, u llm.Usage) (usd float64, known bool)
	Estimate(model string, u llm.Usage) float64
}

// acct is what the ledger is told about a finished request.
type acct struct {
	provider, model string
	cache           string
	usage           llm.Usage
	estimated       bool
	failovers       int
	ttft            time.Duration
	status          int
	outcome         string
	// ticket, when set, is the caller's hold on its limits, settled here
	// with the real tokens and cost.
	ticket *limits.Ticket
}

// account appends the request's record to the ledger. It runs before the
// response's last byte is written (a whole answer's body is sent after the
// handler returns; a stream's end is sent after tail), so a client that got
// a complete answer is always in the ledger, even after kill -9.
func (s *Server) account(c *fasthttp.RequestCtx, model string, a *acct) {
	s.logRequest(c, model, a)
	if !s.accounting() {
		return
	}
	cost, known := 0.0, false
	switch {
	case a.provider == "cache" || a.outcome != "ok" && a.usage == (llm.Usage{}):
		known = true // nothing was spent
	case s.opts.Pricer != nil:
		cost, known = s.opts.Pricer.Cost(a.provider, a.model, a.usage)
	}
	if a.ticket != nil && s.opts.Limits != nil {
		s.opts.Limits.Settle(a.ticket, a.usage.PromptTokens+a.usage.CompletionTokens, cost)
	}
	if s.opts.Ledger == nil {
		return
	}
	k := caller(c)
	r := &usage.Record{
		ID:           string(requestID(c)),
		Time:         c.Time().UTC(),
		Key:          k.ID(),
		Team:         k.TeamName(),
		Tags:         parseTags(c.Request.Header.Peek("x-edgeway-tags")),
		Dialect:      dialectName(c.Path()),
		Alias:        clipShown(model),
		Provider:     a.provider,
		Model:        a.model,
		TokensIn:     a.usage.PromptTokens,
		TokensOut:    a.usage.CompletionTokens,
		TokensCached: a.usage.CachedTokens,
		Estimated:    a.estimated,
		LatencyMS:    ms(time.Since(c.Time())),
		TTFTMS:       ms(a.ttft),
		Cache:        a.cache,
		Failovers:    a.failovers,
		Status:       a.status,
		Outcome:      a.outcome,
		CostUSD:      cost,
		CostKnown:    known,
	}
	r.PIIFound, r.PIIAction = piiOf(c)
	if err := s.opts.Ledger.Append(r); err != nil {
		s.metrics.ledgerErrors.Add(1)
		s.log.Error("usage ledger: record not stored", "request_id", r.ID, "err", err)
	}
}

// accounting reports whether finished requests are to be recorded or
// settled at all (a bare gateway skips the work).
func (s *Server) accounting() bool { return s.opts.Ledger != nil || s.opts.Limits != nil }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dialectName names the API a path belongs to.
func dialectName(path []byte) string {
	switch {
	case bytes.HasPrefix(path, []byte("/api/")):
		return "ollama"
	case bytes.HasPrefix(path, []byte("/v1/messages")):
		return "anthropic"
	case bytes.HasPrefix(path, []byte("/v1/responses")), bytes.HasPrefix(path, []byte("/responses")):
		return "responses"
	}
	return "openai"
}

// maxTags bounds what x-edgeway-tags may add to every record.
const maxTags = 16

// parseTags reads x-edgeway-tags: "k=v,k2=v2" (a bare "k" is "k=").
func parseTags(v []byte) map[string]string {
	if len(v) == 0 {
		return nil
	}
	m := make(map[string]string, 4)
	for len(v) > 0 && len(m) < maxTags {
		var part []byte
		part, v, _ = bytes.Cut(v, []byte(","))
		k, val, _ := bytes.Cut(bytes.TrimSpace(part), []byte("="))
		if len(k) == 0 {
			continue
		}
		m[clipShown(string(bytes.TrimSpace(k)))] = clipShown(string(bytes.TrimSpace(val)))
	}
	return m
}

// estimateUsage fills in usage the provider did not report, with the
// same estimate count_tokens uses for the prompt and about four bytes a
// token for the answer, and says whether it did.
func estimateUsage(u *llm.Usage, req *llm.ChatRequest, answerBytes int) bool {
	if u.PromptTokens > 0 || u.CompletionTokens > 0 {
		return false
	}
	u.PromptTokens = anthropic.CountTokens(req)
	u.CompletionTokens = (answerBytes + 3) / 4
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	return true
}
