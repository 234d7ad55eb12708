package server

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
)

// metrics are the server's counters, exposed at /metrics in Prometheus
// text format. Counters are atomics so the hot path takes no lock; only
// the per-provider table, touched once per completed request, has one.
type metrics struct {
	chat, embed, badRequest, notFound, shed, streamErrors atomic.Int64
	unauthorized, forbidden, ledgerErrors, limited        atomic.Int64
	status4xx, status5xx                                  atomic.Int64
	failovers                                             atomic.Int64
	cacheHits, cacheSemanticHits                          atomic.Int64

	mu         sync.Mutex
	byProvider map[string]*providerStats
}

type providerStats struct {
	requests, promptTokens, completionTokens int64
	seconds                                  float64
}

// maxProviderSeries bounds the per-provider table; provider names come from
// config, so this is only a guard.
const maxProviderSeries = 64

func (m *metrics) cacheServed(kind string) {
	if kind == "semantic" {
		m.cacheSemanticHits.Add(1)
	} else {
		m.cacheHits.Add(1)
	}
}

func (m *metrics) countStatus(status int) {
	if status >= 500 {
		m.status5xx.Add(1)
	} else if status >= 400 {
		m.status4xx.Add(1)
	}
}

func (m *metrics) observe(st *router.Status, u llm.Usage, d time.Duration) {
	m.failovers.Add(int64(st.Failovers))
	if st.Provider == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byProvider == nil {
		m.byProvider = make(map[string]*providerStats)
	}
	p := m.byProvider[st.Provider]
	if p == nil {
		if len(m.byProvider) >= maxProviderSeries {
			return
		}
		p = &providerStats{}
		m.byProvider[st.Provider] = p
	}
	p.requests++
	p.promptTokens += int64(u.PromptTokens)
	p.completionTokens += int64(u.CompletionTokens)
	p.seconds += d.Seconds()
}

func (m *metrics) write(c *fasthttp.RequestCtx, s *Server) {
	b := make([]byte, 0, 2048)
	counter := func(name, help string, v int64) {
		b = append(b, "# HELP "+name+" "+help+"\n# TYPE "+name+" counter\n"+name+" "...)
		b = strconv.AppendInt(b, v, 10)
		b = append(b, '\n')
	}
	counter("edgeway_chat_requests_total", "Chat completion requests received.", m.chat.Load())
	counter("edgeway_embedding_requests_total", "Embedding requests received.", m.embed.Load())
	counter("edgeway_bad_requests_total", "Requests rejected as malformed.", m.badRequest.Load())
	counter("edgeway_unauthorized_total", "Requests refused for a missing or invalid key.", m.unauthorized.Load())
	counter("edgeway_forbidden_total", "Requests refused because the key may not use the model.", m.forbidden.Load())
	counter("edgeway_limited_total", "Requests refused by a key's or team's rate limit or budget.", m.limited.Load())
	counter("edgeway_ledger_errors_total", "Usage records the ledger failed to store.", m.ledgerErrors.Load())
	counter("edgeway_shed_total", "Requests shed at the concurrency limit.", m.shed.Load())
	counter("edgeway_stream_errors_total", "Streams that failed after they started.", m.streamErrors.Load())
	counter("edgeway_failovers_total", "Targets passed over before one served.", m.failovers.Load())
	counter("edgeway_responses_4xx_total", "Client error responses.", m.status4xx.Load())
	counter("edgeway_responses_5xx_total", "Server and upstream error responses.", m.status5xx.Load())
	counter("edgeway_cache_hits_total", "Requests answered from the exact cache.", m.cacheHits.Load())
	counter("edgeway_cache_semantic_hits_total", "Requests answered from the semantic cache.", m.cacheSemanticHits.Load())
	if s.opts.Cache != nil {
		st := s.opts.Cache.Stats()
		counter("edgeway_cache_misses_total", "Cache lookups that found nothing.", int64(st.Misses))
		counter("edgeway_cache_evictions_total", "Entries evicted to stay under cache.max_bytes.", int64(st.Evictions))
		counter("edgeway_cache_guard_refusals_total", "Semantic matches refused because the prompts differ in what decides the answer.", int64(st.GuardRefusals))
		counter("edgeway_cache_dropped_writes_total", "Cache writes dropped because the write queue was full.", int64(st.Dropped))
		counter("edgeway_cache_semantic_misses_total", "Semantic lookups that found nothing close enough.", int64(st.SemanticMisses))
		counter("edgeway_cache_embed_errors_total", "Embedding calls of the semantic cache that failed or timed out.", int64(st.EmbedErrors))
		b = append(b, "# HELP edgeway_cache_bytes Bytes the cache stores.\n# TYPE edgeway_cache_bytes gauge\nedgeway_cache_bytes "...)
		b = strconv.AppendInt(b, int64(st.Bytes), 10)
		b = append(b, "\n# HELP edgeway_cache_entries Entries in the cache.\n# TYPE edgeway_cache_entries gauge\nedgeway_cache_entries "...)
		b = strconv.AppendInt(b, int64(st.Entries), 10)
		b = append(b, "\n# HELP edgeway_cache_semantic_entries Vectors in the semantic index.\n# TYPE edgeway_cache_semantic_entries gauge\nedgeway_cache_semantic_entries "...)
		b = strconv.AppendInt(b, st.SemanticEntries, 10)
		b = append(b, '\n')
	}
	b = append(b, "# HELP edgeway_in_flight Requests being served.\n# TYPE edgeway_in_flight gauge\nedgeway_in_flight "...)
	b = strconv.AppendInt(b, s.inflight.Load(), 10)
	b = append(b, '\n')

	m.mu.Lock()
	b = append(b, "# HELP edgeway_provider_requests_total Requests served, by provider.\n# TYPE edgeway_provider_requests_total counter\n"...)
	for name, p := range m.byProvider {
		b = appendSample(b, "edgeway_provider_requests_total", name, strconv.AppendInt(nil, p.requests, 10))
	}
	b = append(b, "# HELP edgeway_provider_tokens_total Tokens, by provider and direction.\n# TYPE edgeway_provider_tokens_total counter\n"...)
	for name, p := range m.byProvider {
		b = appendSample(b, `edgeway_provider_tokens_total{direction="prompt",`, name, strconv.AppendInt(nil, p.promptTokens, 10))
		b = appendSample(b, `edgeway_provider_tokens_total{direction="completion",`, name, strconv.AppendInt(nil, p.completionTokens, 10))
	}
	b = append(b, "# HELP edgeway_provider_seconds_total Time spent serving, by provider.\n# TYPE edgeway_provider_seconds_total counter\n"...)
	for name, p := range m.byProvider {
		b = appendSample(b, "edgeway_provider_seconds_total", name, strconv.AppendFloat(nil, p.seconds, 'f', 6, 64))
	}
	m.mu.Unlock()

	b = append(b, "# HELP edgeway_upstream_online Whether the upstream is reachable (1) or not (0).\n# TYPE edgeway_upstream_online gauge\n"...)
	for _, h := range s.opts.Router.Health() {
		v := []byte("0")
		if h.Online {
			v = []byte("1")
		}
		b = appendSample(b, "edgeway_upstream_online", h.Name, v)
	}
	c.SetContentType("text/plain; version=0.0.4")
	c.SetBody(b)
}

// appendSample writes `metric{provider="name"} value`. metric may end in
// "{...," to add labels first.
func appendSample(b []byte, metric, provider string, v []byte) []byte {
	b = append(b, metric...)
	if metric[len(metric)-1] != ',' {
		b = append(b, '{')
	}
	b = append(b, `provider=`...)
	b = strconv.AppendQuote(b, provider)
	b = append(b, "} "...)
	b = append(b, v...)
	return append(b, '\n')
}
