package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/internal/netpeek"
)

// Defaults for zero Options.
const (
	DefaultConnectTimeout = config.DefaultConnectTimeout
	// DefaultMaxConnsPerHost bounds connections to one upstream. The router
	// caps requests in flight per upstream well below it; this is a guard.
	DefaultMaxConnsPerHost = 256
	DefaultIdleTimeout     = 90 * time.Second
	// DefaultMaxHeaderBytes bounds an upstream's response header.
	DefaultMaxHeaderBytes = 32 << 10
	// maxHosts bounds the per-host pools; upstreams come from config.
	maxHosts = 64
)

// Options configure a Transport.
type Options struct {
	ConnectTimeout  time.Duration
	MaxConnsPerHost int
	IdleTimeout     time.Duration
	MaxHeaderBytes  int
	// TLSConfig is used for https upstreams; nil means the system roots.
	TLSConfig *tls.Config
	// Proxy says which requests go through an HTTP proxy; nil means
	// http.ProxyFromEnvironment. Proxied requests are sent by net/http.
	Proxy func(*http.Request) (*url.URL, error)
}

// Transport is an http.RoundTripper for HTTP/1.1 upstreams. It is safe for
// concurrent use; share one per provider.
type Transport struct {
	o        Options
	mu       sync.RWMutex
	hosts    map[hostKey]*hostEntry
	fallback *http.Transport // for proxied requests
}

type hostKey struct{ scheme, hostport string }

// hostEntry is what the transport knows about one upstream host: its
// pool, and whether its requests go through a proxy (decided once: the
// decision depends only on the URL).
type hostEntry struct {
	hc      *fasthttp.HostClient
	proxied bool
}

// New returns a Transport for o.
func New(o Options) *Transport {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.MaxConnsPerHost <= 0 {
		o.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if o.Proxy == nil {
		o.Proxy = http.ProxyFromEnvironment
	}
	fb := http.DefaultTransport.(*http.Transport).Clone()
	fb.TLSClientConfig = o.TLSConfig
	fb.Proxy = o.Proxy
	fb.MaxIdleConnsPerHost = 16
	return &Transport{o: o, hosts: make(map[hostKey]*hostEntry), fallback: fb}
}

// CloseIdleConnections closes pooled connections.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, h := range t.hosts {
		h.hc.CloseIdleConnections()
	}
	t.fallback.CloseIdleConnections()
}

var errTooManyHosts = errors.New("upstream: too many distinct upstream hosts")

// host returns the entry for req's host, creating it on first use. The
// common case takes only a read lock and allocates nothing.
func (t *Transport) host(req *http.Request, hostport string) (*hostEntry, error) {
	key := hostKey{req.URL.Scheme, hostport}
	t.mu.RLock()
	h := t.hosts[key]
	t.mu.RUnlock()
	if h != nil {
		return h, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if h := t.hosts[key]; h != nil {
		return h, nil
	}
	if len(t.hosts) >= maxHosts {
		return nil, errTooManyHosts
	}
	p, err := t.o.Proxy(req)
	if err != nil {
		return nil, fmt.Errorf("upstream: proxy for %s: %w", hostport, err)
	}
	d := &net.Dialer{Timeout: t.o.ConnectTimeout, KeepAlive: 30 * time.Second}
	dial := func(addr string) (net.Conn, error) { return d.Dial("tcp", addr) }
	if key.scheme == "https" {
		dial = func(addr string) (net.Conn, error) { return t.dialTLS(d, addr) }
	}
	h = &hostEntry{proxied: p != nil, hc: &fasthttp.HostClient{
		Addr:                hostport,
		Dial:                dial,
		MaxConns:            t.o.MaxConnsPerHost,
		MaxIdleConnDuration: t.o.IdleTimeout,
		ReadBufferSize:      t.o.MaxHeaderBytes,
		WriteBufferSize:     8 << 10,
	}}
	t.hosts[key] = h
	return h, nil
}

// TLSHandshakeTimeout bounds the TLS handshake after the TCP connect.
const TLSHandshakeTimeout = 10 * time.Second

// dialTLS connects and completes the TLS handshake under a deadline, so a
// stalled handshake cannot hold a request forever (the dial happens before
// the request's context is watching the connection).
func (t *Transport) dialTLS(d *net.Dialer, addr string) (net.Conn, error) {
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := t.o.TLSConfig.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		cfg.ServerName = host
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	conn := tls.Client(raw, cfg)
	_ = conn.SetDeadline(time.Now().Add(TLSHandshakeTimeout))
	if err := conn.Handshake(); err != nil {
		raw.Close()
		return nil, fmt.Errorf("upstream: tls handshake with %s: %w", addr, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

// copyHeader copies h into dst with two allocations per header at most:
// values share one backing array, and common names are not reallocated.
func copyHeader(dst http.Header, h *fasthttp.ResponseHeader) {
	vals := make([]string, 0, h.Len())
	for k, v := range h.All() {
		name := commonHeader(k)
		if name == "" {
			name = string(k)
		}
		if old, ok := dst[name]; ok { // a repeated header: rare, keep it simple
			dst[name] = append(old, string(v))
			continue
		}
		vals = append(vals, string(v))
		dst[name] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
}

// commonHeader returns the interned name for headers every upstream sends.
func commonHeader(k []byte) string {
	switch string(k) {
	case "Content-Type":
		return "Content-Type"
	case "Content-Length":
		return "Content-Length"
	case "Date":
		return "Date"
	case "Server":
		return "Server"
	case "Connection":
		return "Connection"
	case "Transfer-Encoding":
		return "Transfer-Encoding"
	case "X-Request-Id":
		return "X-Request-Id"
	case "Cache-Control":
		return "Cache-Control"
	}
	return ""
}

var headerPool = sync.Pool{New: func() any { return new(fasthttp.ResponseHeader) }}

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip sends req and returns its response once the header has
// arrived. The body is read from the connection as the caller reads it;
// closing it early closes the connection, which is how an upstream learns
// that nobody wants the rest. Cancelling req's context aborts whatever is
// blocked.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("upstream: unsupported scheme %q", req.URL.Scheme)
	}
	hostport := req.URL.Host
	if req.URL.Port() == "" {
		port := "80"
		if req.URL.Scheme == "https" {
			port = "443"
		}
		hostport = net.JoinHostPort(req.URL.Hostname(), port)
	}
	h, err := t.host(req, hostport)
	if err != nil {
		return nil, err
	}
	if h.proxied {
		return t.fallback.RoundTrip(req)
	}
	body, err := readRequestBody(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.roundTrip(req.Context(), h.hc, req, body)
	if err != nil && req.Context().Err() != nil {
		return nil, req.Context().Err()
	}
	return resp, err
}

// maxStaleConns bounds how many dead pooled connections one request may
// discard before dialing afresh.
const maxStaleConns = 4

func readRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, fmt.Errorf("upstream: read request body: %w", err)
	}
	return b, nil
}

// idle reports whether a pooled connection is still open and quiet: an
// upstream that closed it while idle has left an EOF (or RST) to read, and
// bytes nobody asked for mean the stream is out of step.
func idle(conn net.Conn) bool {
	st, _ := netpeek.Now(conn)
	return st == netpeek.Quiet
}

func (t *Transport) roundTrip(ctx context.Context, hc *fasthttp.HostClient, req *http.Request, reqBody []byte) (*http.Response, error) {
	cc, err := hc.AcquireConn(0, false)
	// A pooled connection the upstream closed while idle is dropped before
	// use, so the request is never sent into a dead one (and never twice).
	// Every reuse is checked, however short the idle: an upstream may close
	// a connection right after an answer (one non-blocking peek, ~1 µs).
	for i := 0; err == nil && i < maxStaleConns && !cc.LastUseTime().IsZero() && !idle(cc.Conn()); i++ {
		hc.CloseConn(cc)
		cc, err = hc.AcquireConn(0, false)
	}
	if err != nil {
		return nil, fmt.Errorf("upstream: connect %s: %w", hc.Addr, err)
	}
	conn := cc.Conn()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(aLongTimeAgo) })
	fail := func(err error) (*http.Response, error) {
		stop()
		hc.CloseConn(cc)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}

	freq := fasthttp.AcquireRequest()
	freq.Header.SetMethod(req.Method)
	freq.SetRequestURI(req.URL.RequestURI())
	freq.Header.SetHost(req.Host)
	if req.Host == "" {
		freq.Header.SetHost(req.URL.Host)
	}
	for k, vs := range req.Header {
		for _, v := range vs {
			freq.Header.Add(k, v)
		}
	}
	if reqBody != nil {
		freq.SetBodyRaw(reqBody)
	}
	bw := hc.AcquireWriter(conn)
	err = freq.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	fasthttp.ReleaseRequest(freq)
	if err != nil {
		return fail(fmt.Errorf("upstream: write request: %w", err))
	}

	br := hc.AcquireReader(conn)
	// A pooled header keeps its parsing buffers between requests; what the
	// caller needs is copied out below.
	h := headerPool.Get().(*fasthttp.ResponseHeader)
	defer func() { h.Reset(); headerPool.Put(h) }()
	if err := h.Read(br); err != nil {
		hc.ReleaseReader(br)
		return fail(fmt.Errorf("upstream: read response header: %w", err))
	}
	resp := &http.Response{
		Status:     strconv.Itoa(h.StatusCode()) + " " + http.StatusText(h.StatusCode()),
		StatusCode: h.StatusCode(),
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        make(http.Header, 8),
		ContentLength: int64(h.ContentLength()),
		Request:       req,
	}
	copyHeader(resp.Header, h)
	b := &body{hc: hc, br: br, stop: stop, ctx: ctx, keep: !h.ConnectionClose()}
	// The pool's connection type is unexported; a closure carries it.
	b.finish = func(reuse bool) {
		if reuse {
			hc.ReleaseConn(cc)
		} else {
			hc.CloseConn(cc)
		}
	}
	switch n := h.ContentLength(); {
	case req.Method == http.MethodHead || h.StatusCode() == 204 || h.StatusCode() == 304 || n == 0:
		resp.ContentLength = 0
		b.r, b.done = eofReader{}, true
	case n > 0:
		b.r = io.LimitReader(br, int64(n))
		b.remaining = int64(n)
	case n == -1: // chunked
		b.r, b.chunked = httputil.NewChunkedReader(br), true
		resp.TransferEncoding = []string{"chunked"}
		resp.ContentLength = -1
	default: // until the upstream closes
		b.r, b.keep = br, false
		resp.ContentLength = -1
	}
	resp.Body = b
	return resp, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// body is a response body read straight from the connection. It is used
// by one goroutine, like any http.Response.Body.
type body struct {
	hc        *fasthttp.HostClient
	finish    func(reuse bool)
	br        *bufio.Reader
	r         io.Reader
	stop      func() bool
	ctx       context.Context
	keep      bool // the connection may be reused once the body is read
	chunked   bool
	remaining int64 // for Content-Length bodies
	done      bool  // the whole body was read
	closed    bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("upstream: read on closed body")
	}
	if b.done {
		return 0, io.EOF
	}
	n, err := b.r.Read(p)
	if b.remaining > 0 {
		b.remaining -= int64(n)
		if b.remaining == 0 && err == nil {
			err = io.EOF
		}
	}
	if err == io.EOF {
		if b.chunked {
			// The chunked reader stops after the last chunk; the trailer
			// section up to its blank line must be consumed before the
			// connection can carry another response.
			if terr := skipTrailer(b.br); terr != nil {
				b.keep = false
			}
		}
		b.done = true
		return n, io.EOF
	}
	if err != nil && b.ctx.Err() != nil {
		return n, b.ctx.Err()
	}
	if err == io.ErrUnexpectedEOF || err != nil {
		b.keep = false
	}
	return n, err
}

// maxTrailerLines bounds a chunked trailer; real upstreams send none.
const maxTrailerLines = 32

func skipTrailer(br *bufio.Reader) error {
	for i := 0; i < maxTrailerLines; i++ {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return nil
		}
	}
	return errors.New("upstream: chunked trailer too long")
}

// Close returns the connection to the pool when the body was read to its
// end, and closes it otherwise.
func (b *body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	canceled := !b.stop() // the AfterFunc ran: the conn's deadline is poisoned
	b.hc.ReleaseReader(b.br)
	b.finish(b.done && b.keep && !canceled)
	return nil
}

// ValidHeaderName reports whether k may be sent as an HTTP header name
// (an RFC 9110 token), for checking configured extra headers.
func ValidHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// ValidHeaderValue reports whether v may be sent as a header value: no
// control characters but tab, so a configured value cannot split headers.
func ValidHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
