// Package config defines edgeway's configuration: the YAML file format, the
// built-in defaults used when there is no file, and validation that reports
// every problem at once, naming the field and the offending value. The same
// code parses a file on disk and (later) config pushed by the fleet, so both
// are held to the same rules.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Defaults. Every bound has a value: zero never means unlimited.
const (
	DefaultListen         = "127.0.0.1:8420"
	DefaultDataDir        = "./data"
	DefaultOllamaURL      = "http://127.0.0.1:11434"
	DefaultMaxBodyBytes   = 4 << 20 // a long chat with a couple of inline images
	DefaultReadTimeout    = 30 * time.Second
	DefaultWriteTimeout   = 60 * time.Second // per write; streams refresh it per chunk
	DefaultIdleTimeout    = 120 * time.Second
	DefaultRequestTimeout = 10 * time.Minute // whole request, including a long stream
	DefaultHeaderTimeout  = 10 * time.Second // request line and headers
	// DefaultMaxConcurrency is how many requests the gateway works on at once
	// before shedding with 503; an edge device cannot do more useful work.
	DefaultMaxConcurrency = 64
	// DefaultLocalMaxInFlight is how many requests a local runtime takes at
	// once before it counts as busy and the router looks elsewhere. Ollama
	// serves one request per model at a time by default (OLLAMA_NUM_PARALLEL),
	// so a second would only queue there; the board profile may raise it.
	DefaultLocalMaxInFlight = 1
	DefaultCloudMaxInFlight = 64
	DefaultCloudTimeout     = 5 * time.Minute
	DefaultLocalTimeout     = 5 * time.Minute
	DefaultConnectTimeout   = 5 * time.Second
	// DefaultFirstTokenTimeout bounds how long a local runtime may think
	// before the first token; past it the router fails over (a model still
	// loading or a board too hot to keep up).
	DefaultFirstTokenTimeout = 20 * time.Second
	// DefaultCloudFirstTokenTimeout is the same bound for a cloud API: half
	// the router's default deadline, so a stalled cloud target still leaves
	// time to fail over to the next.
	DefaultCloudFirstTokenTimeout = 30 * time.Second
	// DefaultStallTimeout bounds the silence between two chunks of a
	// stream once it has begun; past it the stream is cut and the client
	// told in its dialect.
	DefaultStallTimeout = 30 * time.Second
	// DefaultMaxAnswerBytes bounds an answer the gateway collects for a
	// client that did not ask to stream (text, reasoning and tool
	// arguments): far above any real answer, far below what a runaway
	// upstream would make the device hold.
	DefaultMaxAnswerBytes = 16 << 20
)

// minAnswerBytes is the smallest server.max_answer_bytes: below it real
// answers would fail.
const minAnswerBytes = 4 << 10

// Provider types.
const (
	TypeOllama           = "ollama"
	TypeLlamaCpp         = "llamacpp"
	TypeOpenAI           = "openai"
	TypeAnthropic        = "anthropic"
	TypeGemini           = "gemini"
	TypeOpenAICompatible = "openai-compatible"
)

var providerTypes = []string{TypeOllama, TypeLlamaCpp, TypeOpenAI, TypeAnthropic, TypeGemini, TypeOpenAICompatible}

// Config is the whole gateway configuration. The zero value is not valid;
// use Default or Parse.
type Config struct {
	Listen    string              `yaml:"listen"`
	DataDir   string              `yaml:"data_dir"`
	Server    Server              `yaml:"server"`
	Providers []Provider          `yaml:"providers"`
	Models    map[string][]string `yaml:"models"`
	Router    Router              `yaml:"router"`
	Cache     Cache               `yaml:"cache"`
	Auth      Auth                `yaml:"auth"`
	// Pricing overrides or adds prices, keyed "provider/model" (the
	// configured provider's name), over the embedded catalog.
	Pricing map[string]Price `yaml:"pricing"`
	// PII sets the personal-data policy of routes, whoever calls: Default
	// for every model, Models per alias or provider/model. A key's or
	// team's own policy can only make it stricter.
	PII PIIPolicy `yaml:"pii"`
	// Ledger tunes the usage ledger.
	Ledger Ledger `yaml:"ledger"`
	// Responses bounds the Responses API answers kept for GET
	// /v1/responses/{id} and previous_response_id.
	Responses ResponsesStore `yaml:"responses"`
	// Log sets up the log on stderr.
	Log Log `yaml:"log"`
	// Fleet connects the device to its fleet over NATS JetStream; off
	// when URL is empty.
	Fleet Fleet `yaml:"fleet"`
}

// Fleet is the device's link to its fleet: where NATS is, who the device
// is, and how it authenticates. Secrets take "env:VAR" or a stored
// secret, as provider keys do.
type Fleet struct {
	// URL is the NATS server (nats://host:4222, tls://...); several may
	// be given comma-separated.
	URL string `yaml:"url"`
	// Device is this device's id (letters, digits, '-' and '_'); empty:
	// generated once and kept in the data file.
	Device string `yaml:"device"`
	// Group is the fleet group whose config (group.<name>) applies.
	Group string `yaml:"group"`
	// One way to authenticate, or none.
	User      string `yaml:"user"`
	Password  Secret `yaml:"password"`
	Token     Secret `yaml:"token"`
	NKeyFile  string `yaml:"nkey_file"`  // a file holding an nkey seed
	CredsFile string `yaml:"creds_file"` // a .creds file (JWT + seed)
	TLS       struct {
		CA   string `yaml:"ca"`
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	// Heartbeat is how often status goes to edgeway.status.<device>
	// (default 30s).
	Heartbeat Duration `yaml:"heartbeat"`
}

// ResponsesStore bounds the stored Responses API answers: kept for TTL
// (default 30 days), at most MaxEntries (default 10000), oldest out first.
type ResponsesStore struct {
	TTL        Duration `yaml:"ttl"`
	MaxEntries int      `yaml:"max_entries"`
}

// Log sets up the log: one line per finished request at info; request
// and response bodies (credentials redacted, bounded) only at debug.
type Log struct {
	// Format is "text" (default, logfmt) or "json".
	Format string `yaml:"format"`
	// Level is "info" (default), "debug", "warn" or "error"; the
	// --log-level flag overrides it.
	Level string `yaml:"level"`
}

// Log defaults.
const (
	DefaultLogFormat = "text"
	DefaultLogLevel  = "info"
)

// Ledger tunes the usage ledger: when a record counts as stored, and how
// large the fleet's outbox may grow while the link is down.
type Ledger struct {
	// Sync is "fsync" (default: a record survives a power cut before its
	// answer's last byte goes out) or "write" (it survives the gateway
	// being killed at once, and a power cut milliseconds later).
	Sync string `yaml:"sync"`
	// MaxBytes bounds the outbox (default 64 MiB); past it the oldest
	// records are folded into hourly rollup records, never dropped.
	MaxBytes int64 `yaml:"max_bytes"`
}

// PIIPolicy is a PII action (allow, redact-for-cloud, local-only, block)
// for all requests and per model.
type PIIPolicy struct {
	Default string            `yaml:"default"`
	Models  map[string]string `yaml:"models"`
}

// Price is a model's price in USD per million tokens. CachedInput and
// CacheWrite price the prompt tokens read from or written to the
// provider's prompt cache; zero charges them as input.
type Price struct {
	Input       float64 `yaml:"input"`
	Output      float64 `yaml:"output"`
	CachedInput float64 `yaml:"cached_input"`
	CacheWrite  float64 `yaml:"cache_write"`
}

// Auth configures who may call the gateway.
type Auth struct {
	// AdminKey is the admin API's key ("env:VAR" or the key itself); when
	// unset, the EDGEWAY_ADMIN_KEY environment variable is used if set.
	// With no admin key and no virtual key the gateway is open, and then
	// only on a loopback address.
	AdminKey Secret `yaml:"admin_key"`
}

// AdminKeyEnv is the environment variable the admin key is read from by
// default, by serve and by the CLI alike.
const AdminKeyEnv = "EDGEWAY_ADMIN_KEY"

// MinAdminKeyLen is the shortest admin key accepted: it guards every
// other key.
const MinAdminKeyLen = 16

// ResolveAdminKey returns the admin key ("" for none): auth.admin_key, or
// else $EDGEWAY_ADMIN_KEY.
func (a *Auth) ResolveAdminKey(lookup func(string) (string, bool)) (string, error) {
	v, _ := lookup(AdminKeyEnv)
	if a.AdminKey != "" {
		var err error
		if v, err = a.AdminKey.Resolve(lookup); err != nil {
			return "", fmt.Errorf("auth.admin_key: %w", err)
		}
	}
	if v != "" && len(v) < MinAdminKeyLen {
		return "", fmt.Errorf("auth.admin_key: the admin key is %d characters; use at least %d (e.g. openssl rand -hex 24)", len(v), MinAdminKeyLen)
	}
	return v, nil
}

// Cache configures the response cache. It is on by default for
// deterministic requests (temperature 0 or a seed).
type Cache struct {
	// Enabled defaults to true; set false to turn the cache off.
	Enabled *bool `yaml:"enabled"`
	// Mode is "deterministic" (default), "always" or "never".
	Mode string `yaml:"mode"`
	// MaxBytes bounds the stored (compressed) cache; LRU eviction past it.
	MaxBytes int64    `yaml:"max_bytes"`
	TTL      Duration `yaml:"ttl"`
	// CacheToolCalls allows storing answers that call tools.
	CacheToolCalls bool     `yaml:"cache_tool_calls"`
	Semantic       Semantic `yaml:"semantic"`
}

// Semantic configures the semantic cache: a hit for a paraphrase of the
// last user turn in the same conversation.
type Semantic struct {
	Enabled bool `yaml:"enabled"`
	// Embedder is "provider/model" of an embedding model (e.g.
	// ollama/nomic-embed-text) or "glove", the built-in word vectors (see
	// glove_path), which is also the default: it works offline on a device
	// with no embedding model.
	Embedder string `yaml:"embedder"`
	// GlovePath is the glove.bin file; default data_dir/glove.bin.
	GlovePath  string  `yaml:"glove_path"`
	Threshold  float64 `yaml:"threshold"`
	MaxEntries int     `yaml:"max_entries"`
}

// On reports whether the cache is enabled.
func (c *Cache) On() bool { return c.Enabled == nil || *c.Enabled }

// Server holds the HTTP front end's limits.
type Server struct {
	MaxBodyBytes   int      `yaml:"max_body_bytes"`
	ReadTimeout    Duration `yaml:"read_timeout"`
	WriteTimeout   Duration `yaml:"write_timeout"`
	IdleTimeout    Duration `yaml:"idle_timeout"`
	RequestTimeout Duration `yaml:"request_timeout"`
	MaxConcurrency int      `yaml:"max_concurrency"`
	// HeaderTimeout bounds reading a request's line and headers, and a new
	// connection's wait for them; the body then has read_timeout.
	HeaderTimeout Duration `yaml:"header_timeout"`
	// MaxConnections bounds open client connections (default
	// max_concurrency*4+256); at the bound, idle and slow ones make room.
	MaxConnections int `yaml:"max_connections"`
	// AllowedOrigins are web origins ("https://app.example.com", or "*")
	// whose pages may call the gateway from a browser; origins on the
	// device itself (localhost, 127.x, [::1]) always may.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHosts are host names (no port, or "*") clients may address
	// the gateway by, besides localhost and IP addresses; any other Host
	// is refused as DNS rebinding.
	AllowedHosts []string `yaml:"allowed_hosts"`

	// MaxAnswerBytes bounds the answer collected for a client that did
	// not ask to stream; past it the client gets 502 and the upstream
	// request is canceled.
	MaxAnswerBytes int `yaml:"max_answer_bytes"`
}

// Provider is one upstream.
type Provider struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`
	BaseURL string `yaml:"base_url"`
	// APIKey is "env:VAR" (read from the environment at start) or the key
	// itself. It is never printed.
	APIKey            Secret            `yaml:"api_key"`
	Headers           map[string]string `yaml:"headers"`
	Timeout           Duration          `yaml:"timeout"`
	ConnectTimeout    Duration          `yaml:"connect_timeout"`
	FirstTokenTimeout Duration          `yaml:"first_token_timeout"`
	MaxInFlight       int               `yaml:"max_in_flight"`
	ContextLength     int               `yaml:"context_length"`
	// Options are runtime model options sent with every request to a local
	// runtime (Ollama's num_thread, num_ctx, ...).
	Options map[string]any `yaml:"options"`
	// NoStreamOptions and MaxTokensField are quirks of some OpenAI-compatible
	// servers.
	NoStreamOptions bool   `yaml:"no_stream_options"`
	MaxTokensField  string `yaml:"max_tokens_field"`
	// Wire is the API an openai or openai-compatible provider is spoken
	// to in: "chat" (Chat Completions, the default) or "responses" (the
	// Responses API, for models served only there; a Responses client's
	// request then goes as it came, hosted tools included).
	Wire string `yaml:"wire"`

	// StallTimeout bounds the silence between chunks of a stream once it
	// has begun; zero takes router.stall_timeout.
	StallTimeout Duration `yaml:"stall_timeout"`
}

// Local reports whether p is a runtime on the device rather than a cloud API.
func (p *Provider) Local() bool { return p.Type == TypeOllama || p.Type == TypeLlamaCpp }

// Router holds failover tuning. Zero fields take the router's defaults.
type Router struct {
	MaxAttempts      int      `yaml:"max_attempts"`
	RetryBase        Duration `yaml:"retry_base"`
	RetryMax         Duration `yaml:"retry_max"`
	Deadline         Duration `yaml:"deadline"`
	BreakerThreshold int      `yaml:"breaker_threshold"`
	BreakerCooldown  Duration `yaml:"breaker_cooldown"`
	ProbeInterval    Duration `yaml:"probe_interval"`
	ProbeTimeout     Duration `yaml:"probe_timeout"`
	// StallTimeout is every provider's stall_timeout unless it sets its own.
	StallTimeout Duration `yaml:"stall_timeout"`
}

// Duration is a time.Duration written as "30s" or "1m30s" in YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: want a duration like \"30s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like \"30s\"", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d in Go's duration syntax.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Secret is a credential reference: "env:VAR", "secret:NAME" (stored
// encrypted in the data file, see edge/secrets) or a literal value. Its
// String and YAML forms never reveal a literal value.
type Secret string

// StoredPrefix starts a reference to a secret in the data file's store.
const StoredPrefix = "secret:"

// Stored returns the name of the stored secret s refers to, if it does.
func (s Secret) Stored() (name string, ok bool) {
	return strings.CutPrefix(string(s), StoredPrefix)
}

// Resolve returns the credential: the environment variable's value for
// "env:VAR", or the literal. lookup is os.LookupEnv in production. A
// "secret:NAME" reference is resolved by the caller that holds the secrets
// store (cmd/edgeway); here it is an error.
func (s Secret) Resolve(lookup func(string) (string, bool)) (string, error) {
	if name, ok := s.Stored(); ok {
		return "", fmt.Errorf("%s%s: a stored secret is not available here", StoredPrefix, name)
	}
	if v, ok := strings.CutPrefix(string(s), "env:"); ok {
		val, found := lookup(v)
		if !found || val == "" {
			return "", fmt.Errorf("environment variable %s is not set", v)
		}
		return val, nil
	}
	return string(s), nil
}

// String redacts literal secrets.
func (s Secret) String() string {
	if s == "" || strings.HasPrefix(string(s), "env:") || strings.HasPrefix(string(s), StoredPrefix) {
		return string(s)
	}
	return "[redacted]"
}

// MarshalYAML redacts literal secrets.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// Defaults are the device-dependent defaults the caller derives from the
// board profile. Zero fields take the built-in constants.
type Defaults struct {
	// LocalMaxInFlight is the busy threshold of local runtimes.
	LocalMaxInFlight int
	// MaxConcurrency is the gateway-wide request cap.
	MaxConcurrency int
	// OllamaNumThread, when set, is sent as Ollama's num_thread unless the
	// provider's options say otherwise: llama.cpp threads spin-wait, so
	// one core left to the gateway and the OS keeps both responsive.
	OllamaNumThread int
}

// Parse reads a YAML config, rejects unknown fields, applies defaults (d
// for what depends on the device) and validates. Validation problems are
// returned together in one error.
func Parse(r io.Reader, d Defaults) (*Config, error) {
	// Bounded: a config is small, and fleet-pushed config must not be able
	// to exhaust memory.
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config: read: %w", err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("config: larger than %d bytes", maxConfigBytes)
	}
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.applyDefaults(d)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

const maxConfigBytes = 1 << 20

// Load reads the config file at path.
func Load(path string, d Defaults) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f, d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Default returns the configuration used when there is no file: Ollama on
// its default address (OLLAMA_HOST respected) and every cloud provider whose
// key is in the environment. getenv is os.Getenv in production.
func Default(getenv func(string) string, d Defaults) *Config {
	c := &Config{}
	ollama := DefaultOllamaURL
	if h := getenv("OLLAMA_HOST"); h != "" {
		ollama = ollamaHostURL(h)
	}
	c.Providers = append(c.Providers, Provider{Name: "ollama", Type: TypeOllama, BaseURL: ollama})
	for _, cp := range envProviders {
		if getenv(cp.env) != "" {
			c.Providers = append(c.Providers, Provider{Name: cp.name, Type: cp.typ, BaseURL: cp.url, APIKey: Secret("env:" + cp.env)})
		}
	}
	c.applyDefaults(d)
	return c
}

var envProviders = []struct{ name, typ, url, env string }{
	{"openai", TypeOpenAI, "https://api.openai.com/v1", "OPENAI_API_KEY"},
	{"anthropic", TypeAnthropic, "https://api.anthropic.com/v1", "ANTHROPIC_API_KEY"},
	{"gemini", TypeGemini, "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY"},
	{"mistral", TypeOpenAICompatible, "https://api.mistral.ai/v1", "MISTRAL_API_KEY"},
}

// ollamaHostURL turns OLLAMA_HOST ("0.0.0.0", "host:port", "http://h:p")
// into a base URL the way the ollama CLI reads it.
func ollamaHostURL(h string) string {
	if strings.Contains(h, "://") {
		return strings.TrimRight(h, "/")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, "11434"
	}
	if host == "" || host == "0.0.0.0" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func (c *Config) applyDefaults(d Defaults) {
	setInt(&d.LocalMaxInFlight, DefaultLocalMaxInFlight)
	setInt(&d.MaxConcurrency, DefaultMaxConcurrency)
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	s := &c.Server
	setInt(&s.MaxBodyBytes, DefaultMaxBodyBytes)
	setDur(&s.ReadTimeout, DefaultReadTimeout)
	setDur(&s.WriteTimeout, DefaultWriteTimeout)
	setDur(&s.IdleTimeout, DefaultIdleTimeout)
	setDur(&s.RequestTimeout, DefaultRequestTimeout)
	setInt(&s.MaxConcurrency, d.MaxConcurrency)
	setDur(&s.HeaderTimeout, DefaultHeaderTimeout)
	setInt(&s.MaxConnections, s.MaxConcurrency*4+256)
	setInt(&s.MaxAnswerBytes, DefaultMaxAnswerBytes)
	setDur(&c.Router.StallTimeout, DefaultStallTimeout)
	setDur(&c.Fleet.Heartbeat, DefaultFleetHeartbeat)
	if c.Cache.Semantic.Enabled && c.Cache.Semantic.Embedder == "" {
		c.Cache.Semantic.Embedder = "glove"
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.BaseURL == "" {
			p.BaseURL = defaultBaseURL(p.Type)
		}
		p.BaseURL = strings.TrimRight(p.BaseURL, "/")
		setDur(&p.ConnectTimeout, DefaultConnectTimeout)
		if c.Router.StallTimeout > 0 { // a negative one is reported once, for the router
			setDur(&p.StallTimeout, c.Router.StallTimeout.D())
		}
		if p.Type == TypeOllama && d.OllamaNumThread > 0 {
			if _, set := p.Options["num_thread"]; !set {
				if p.Options == nil {
					p.Options = map[string]any{}
				}
				p.Options["num_thread"] = d.OllamaNumThread
			}
		}
		if p.Local() {
			setInt(&p.MaxInFlight, d.LocalMaxInFlight)
			setDur(&p.Timeout, DefaultLocalTimeout)
			setDur(&p.FirstTokenTimeout, DefaultFirstTokenTimeout)
		} else {
			setInt(&p.MaxInFlight, DefaultCloudMaxInFlight)
			setDur(&p.Timeout, DefaultCloudTimeout)
			setDur(&p.FirstTokenTimeout, DefaultCloudFirstTokenTimeout)
		}
	}
}

func defaultBaseURL(typ string) string {
	switch typ {
	case TypeOllama:
		return DefaultOllamaURL
	case TypeLlamaCpp:
		return "http://127.0.0.1:8080/v1"
	}
	for _, cp := range envProviders {
		if cp.typ == typ && typ != TypeOpenAICompatible {
			return cp.url
		}
	}
	return ""
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *Duration, v time.Duration) {
	if *p == 0 {
		*p = Duration(v)
	}
}

// Validate checks c and returns every problem found, joined, each naming
// the field and the value.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	// Port 0 stays allowed for listen only: the OS picks a free port, and
	// the start line says which (tests rely on it).
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || hasControl(c.Listen) {
		bad("listen", "%q is not host:port", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("listen", "port %q is not a number from 1 to 65535 (0 lets the system pick one)", port)
	}
	for i, o := range c.Server.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || hasControl(o) || u.Scheme == "" || u.Host == "" || u.User != nil || strings.TrimRight(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			bad("server.allowed_origins["+strconv.Itoa(i)+"]", "%q is not an origin like \"https://app.example.com\" (scheme and host, an optional port, nothing else) or \"*\"", o)
		} else if err := checkPort(u.Port()); err != nil {
			bad("server.allowed_origins["+strconv.Itoa(i)+"]", "%q: %v", o, err)
		}
	}
	for i, h := range c.Server.AllowedHosts {
		if h != "*" && (h == "" || hasControl(h) || strings.ContainsAny(h, "/:@ \t?#[]")) {
			bad("server.allowed_hosts["+strconv.Itoa(i)+"]", "%q is not a host name without port (e.g. \"edge.local\") or \"*\"", h)
		}
	}
	if c.Server.MaxBodyBytes < 1024 {
		bad("server.max_body_bytes", "%d is below the minimum 1024", c.Server.MaxBodyBytes)
	}
	if c.Server.MaxConcurrency < 1 {
		bad("server.max_concurrency", "%d must be at least 1", c.Server.MaxConcurrency)
	}
	if c.Server.MaxAnswerBytes < minAnswerBytes {
		bad("server.max_answer_bytes", "%d is below the minimum %d", c.Server.MaxAnswerBytes, minAnswerBytes)
	}
	if c.Server.MaxConnections <= c.Server.MaxConcurrency {
		bad("server.max_connections", "%d must be above server.max_concurrency (%d), so that idle connections can make room", c.Server.MaxConnections, c.Server.MaxConcurrency)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{
		{"server.read_timeout", c.Server.ReadTimeout}, {"server.write_timeout", c.Server.WriteTimeout},
		{"server.idle_timeout", c.Server.IdleTimeout}, {"server.request_timeout", c.Server.RequestTimeout},
		{"server.header_timeout", c.Server.HeaderTimeout},
	} {
		if d.v < 0 {
			bad(d.field, "%s must not be negative", d.v.D())
		}
	}
	names := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		f := "providers[" + strconv.Itoa(i) + "]"
		switch {
		case p.Name == "":
			bad(f+".name", "is required")
		case strings.ContainsAny(p.Name, "/ \t") || hasControl(p.Name):
			bad(f+".name", "%q must not contain '/', spaces or control characters (it prefixes model names)", p.Name)
		case names[p.Name]:
			bad(f+".name", "%q is used twice", p.Name)
		}
		names[p.Name] = true
		if !slices.Contains(providerTypes, p.Type) {
			bad(f+".type", "%q is not one of %s", p.Type, strings.Join(providerTypes, ", "))
		}
		if p.BaseURL == "" {
			bad(f+".base_url", "is required for type %q", p.Type)
		} else if u, err := url.Parse(p.BaseURL); err != nil || hasControl(p.BaseURL) || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(f+".base_url", "%q is not an http(s) URL", RedactURL(p.BaseURL))
		} else if err := checkPort(u.Port()); err != nil {
			bad(f+".base_url", "%q: %v", RedactURL(p.BaseURL), err)
		}
		if p.MaxInFlight < 1 {
			bad(f+".max_in_flight", "%d must be at least 1", p.MaxInFlight)
		}
		if p.ContextLength < 0 {
			bad(f+".context_length", "%d must not be negative", p.ContextLength)
		}
		// Fields a type has no use for are refused, not dropped: an operator
		// who sets them expects them to do something.
		if len(p.Options) > 0 && p.Type != TypeOllama {
			bad(f+".options", "runtime model options are sent only to type %q (llama-server takes them on its command line)", TypeOllama)
		}
		if openAIWire := p.Type == TypeOpenAI || p.Type == TypeOpenAICompatible || p.Type == TypeLlamaCpp; !openAIWire {
			if p.NoStreamOptions {
				bad(f+".no_stream_options", "applies only to the OpenAI wire (types %s, %s, %s)", TypeOpenAI, TypeOpenAICompatible, TypeLlamaCpp)
			}
			if p.MaxTokensField != "" {
				bad(f+".max_tokens_field", "applies only to the OpenAI wire (types %s, %s, %s)", TypeOpenAI, TypeOpenAICompatible, TypeLlamaCpp)
			}
		}
		switch {
		case p.Wire == "" || p.Wire == "chat":
		case p.Wire != "responses":
			bad(f+".wire", "%q is not chat or responses", p.Wire)
		case p.Type != TypeOpenAI && p.Type != TypeOpenAICompatible:
			bad(f+".wire", "responses applies only to types %s and %s", TypeOpenAI, TypeOpenAICompatible)
		}
		if p.MaxTokensField != "" && p.MaxTokensField != "max_tokens" && p.MaxTokensField != "max_completion_tokens" {
			bad(f+".max_tokens_field", "%q is not max_tokens or max_completion_tokens", p.MaxTokensField)
		}
		if p.Timeout < 0 || p.ConnectTimeout < 0 || p.FirstTokenTimeout < 0 || p.StallTimeout < 0 {
			bad(f, "timeouts must not be negative")
		}
		if v, ok := strings.CutPrefix(string(p.APIKey), "env:"); ok && v == "" {
			bad(f+".api_key", "\"env:\" needs a variable name")
		}
	}
	for _, a := range slices.Sorted(maps.Keys(c.Models)) {
		f := "models." + a
		if hasControl(a) || strings.ContainsAny(a, " \t") {
			f = "models." + strconv.Quote(a)
			bad(f, "alias %q must not contain spaces or control characters", a)
		}
		if names[a] {
			bad(f, "alias %q has the same name as a provider", a)
		}
		if len(c.Models[a]) == 0 {
			bad(f, "needs at least one target \"provider/model\"")
		}
		for j, t := range c.Models[a] {
			prov, model, ok := strings.Cut(t, "/")
			switch {
			case !ok || model == "" || hasControl(t):
				bad(f+"["+strconv.Itoa(j)+"]", "%q is not \"provider/model\" (without control characters)", t)
			case !names[prov]:
				bad(f+"["+strconv.Itoa(j)+"]", "%q names provider %q, which is not configured (have: %s)", t, prov, strings.Join(slices.Sorted(maps.Keys(names)), ", "))
			}
		}
	}
	cc := c.Cache
	if cc.Mode != "" && cc.Mode != "deterministic" && cc.Mode != "always" && cc.Mode != "never" {
		bad("cache.mode", "%q is not deterministic, always or never", cc.Mode)
	}
	if cc.MaxBytes < 0 || cc.TTL < 0 {
		bad("cache", "max_bytes and ttl must not be negative")
	}
	if sc := cc.Semantic; sc.Enabled {
		if prov, _, ok := strings.Cut(sc.Embedder, "/"); sc.Embedder != "glove" && (!ok || !names[prov]) {
			bad("cache.semantic.embedder", "%q is neither \"glove\" nor \"provider/model\" of a configured provider", sc.Embedder)
		}
		if sc.Threshold < 0 || sc.Threshold > 1 {
			bad("cache.semantic.threshold", "%g is not between 0 and 1", sc.Threshold)
		}
		if sc.MaxEntries < 0 {
			bad("cache.semantic.max_entries", "%d must not be negative", sc.MaxEntries)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.Pricing)) {
		p := c.Pricing[k]
		if prov, model, ok := strings.Cut(k, "/"); !ok || model == "" || !names[prov] || hasControl(k) {
			bad("pricing", "%q is not provider/model of a configured provider", k)
		}
		for _, v := range []float64{p.Input, p.Output, p.CachedInput, p.CacheWrite} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				bad("pricing."+k, "prices must be finite and not negative")
				break
			}
		}
	}
	if f := c.Fleet; f.URL != "" || f.Device != "" {
		if f.URL == "" {
			bad("fleet.url", "is needed when fleet is configured")
		}
		if f.Device != "" && !validFleetName(f.Device) {
			bad("fleet.device", "%q must be 1 to 64 of letters, digits, '-' and '_'", f.Device)
		}
		if f.Group != "" && !validFleetName(f.Group) {
			bad("fleet.group", "%q must be 1 to 64 of letters, digits, '-' and '_'", f.Group)
		}
		auth := 0
		for _, set := range []bool{f.User != "" || f.Password != "", f.Token != "", f.NKeyFile != "", f.CredsFile != ""} {
			if set {
				auth++
			}
		}
		if auth > 1 {
			bad("fleet", "set one of user/password, token, nkey_file or creds_file")
		}
		if (f.TLS.Cert == "") != (f.TLS.Key == "") {
			bad("fleet.tls", "cert and key go together")
		}
		if f.Heartbeat < 0 {
			bad("fleet.heartbeat", "must not be negative")
		}
	}
	if c.Responses.TTL < 0 || c.Responses.MaxEntries < 0 {
		bad("responses", "ttl and max_entries must not be negative")
	}
	if c.Log.Format != "" && c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "%q is not text or json", c.Log.Format)
	}
	if c.Log.Level != "" && !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Ledger.Sync != "" && c.Ledger.Sync != "fsync" && c.Ledger.Sync != "write" {
		bad("ledger.sync", "%q is not fsync or write", c.Ledger.Sync)
	}
	if c.Ledger.MaxBytes < 0 || c.Ledger.MaxBytes > 0 && c.Ledger.MaxBytes < 1<<16 {
		bad("ledger.max_bytes", "%d is below 64 KiB", c.Ledger.MaxBytes)
	}
	piiActions := []string{"", "allow", "redact-for-cloud", "local-only", "block"}
	if !slices.Contains(piiActions, c.PII.Default) {
		bad("pii.default", "%q is not allow, redact-for-cloud, local-only or block", c.PII.Default)
	}
	for _, m := range slices.Sorted(maps.Keys(c.PII.Models)) {
		if a := c.PII.Models[m]; a == "" || !slices.Contains(piiActions, a) {
			bad("pii.models."+m, "%q is not allow, redact-for-cloud, local-only or block", a)
		}
	}
	r := c.Router
	if r.MaxAttempts < 0 || r.BreakerThreshold < 0 {
		bad("router", "max_attempts and breaker_threshold must not be negative")
	}
	if r.RetryBase < 0 || r.RetryMax < 0 || r.Deadline < 0 || r.BreakerCooldown < 0 || r.ProbeInterval < 0 || r.ProbeTimeout < 0 || r.StallTimeout < 0 {
		bad("router", "durations must not be negative")
	}
	if r.RetryBase > 0 && r.RetryMax > 0 && r.RetryMax < r.RetryBase {
		bad("router.retry_max", "%s is below router.retry_base %s", r.RetryMax.D(), r.RetryBase.D())
	}
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Problems: errs}
}

// hasControl reports control characters (C0, DEL, C1), which have no
// place in a name and could forge log lines or terminal output.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// checkPort accepts an empty port (the scheme's) or 1-65535.
func checkPort(p string) error {
	if p == "" {
		return nil
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q is not from 1 to 65535", p)
	}
	return nil
}

// RedactURL returns u with the password of any user info replaced, for
// printing a base_url: "http://user:pass@host" shows as
// "http://user:xxxxx@host". Text that does not parse has everything
// between "://" and the last "@" replaced.
func RedactURL(u string) string {
	if pu, err := url.Parse(u); err == nil {
		if pu.User == nil {
			return u
		}
		return pu.Redacted()
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if at := strings.LastIndexByte(rest, '@'); ok && at >= 0 {
		return scheme + "://xxxxx" + rest[at:]
	}
	return u
}

// ValidationError lists every problem Validate found.
type ValidationError struct{ Problems []error }

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(strconv.Itoa(len(e.Problems)))
	b.WriteString(" problem(s):")
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns the problems.
func (e *ValidationError) Unwrap() []error { return e.Problems }

// DefaultFleetHeartbeat is how often a device publishes its status.
const DefaultFleetHeartbeat = 30 * time.Second

// validFleetName reports whether s can be a NATS subject token naming a
// device or group.
func validFleetName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
