package server

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// The request guard closes what a web page in the device's browser could
// do to a gateway on localhost. A cross-site page can send "simple" POSTs
// (text/plain, form bodies) without a CORS preflight, and with DNS
// rebinding it can even read the answers, under a name it controls that
// resolves to 127.0.0.1. So, before any key is looked at:
//
//   - a request with an Origin header is refused (403) unless the origin is
//     on the device (http(s)://localhost, 127.x, [::1], any port: a local
//     process can reach the gateway directly anyway) or listed in
//     server.allowed_origins. Non-browser clients (the OpenAI and
//     Anthropic SDKs, Ollama's clients, curl) send no Origin. An allowed
//     origin gets CORS headers, and its preflight an answer, so a page
//     there can actually use the API (with a key, where keys are on);
//   - the Host header must name the gateway: localhost (or *.localhost),
//     an IP literal (rebinding needs a DNS name; a client that dials the
//     device's address gets it as the Host), or a name listed in
//     server.allowed_hosts ("*" for any);
//   - an API POST must carry a JSON content type (415 otherwise), so no
//     preflight-free browser body is ever parsed as a request.

// guardConfig is the request guard's allow-lists, built once in New.
type guardConfig struct {
	anyOrigin bool
	origins   map[string]struct{} // "scheme://host[:port]", lower case
	anyHost   bool
	hosts     map[string]struct{} // host names without port, lower case
}

func newGuardConfig(origins, hosts []string) guardConfig {
	g := guardConfig{origins: make(map[string]struct{}, len(origins)), hosts: make(map[string]struct{}, len(hosts))}
	for _, o := range origins {
		o = strings.TrimRight(strings.ToLower(strings.TrimSpace(o)), "/")
		if o == "*" {
			g.anyOrigin = true
		}
		g.origins[o] = struct{}{}
	}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "*" {
			g.anyHost = true
		}
		g.hosts[h] = struct{}{}
	}
	return g
}

// maxEchoed bounds a client value quoted back in an error message.
const maxEchoed = 200

// echo quotes a client value for an error message, clipped to maxEchoed
// bytes so a huge value is not sent back (or logged) whole.
func echo(b []byte) string {
	if len(b) > maxEchoed {
		cut := maxEchoed
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		return strconv.Quote(string(b[:cut])) + "… (" + strconv.Itoa(len(b)) + " bytes)"
	}
	return strconv.Quote(string(b))
}

// guard applies the checks above and answers a refused request in its
// dialect. It reports whether the request may go on. It does not allocate
// for an allowed request.
func (s *Server) guard(c *fasthttp.RequestCtx, path []byte) bool {
	h := &c.Request.Header
	// /healthz says nothing, and container health checks address the
	// gateway by a service name nobody thought to configure.
	if host := h.Host(); !s.guardCfg.hostAllowed(host) && string(path) != "/healthz" {
		errorDialect(path).writeError(c, &apiError{status: 403, typ: "permission_error", code: "host_not_allowed",
			message: "Host " + echo(host) + " is not a name of this gateway (DNS rebinding?); add it to server.allowed_hosts to allow it"})
		return false
	}
	if origin := h.Peek("Origin"); len(origin) > 0 {
		if !s.guardCfg.originAllowed(origin) {
			errorDialect(path).writeError(c, &apiError{status: 403, typ: "permission_error", code: "origin_not_allowed",
				message: "requests from web origin " + echo(origin) + " are not allowed; add it to server.allowed_origins to allow it"})
			return false
		}
		if cors(c, origin) {
			return false
		}
	}
	if h.IsPost() && !bytes.HasPrefix(path, []byte("/admin/")) && !jsonContentType(h.ContentType()) {
		errorDialect(path).writeError(c, &apiError{status: 415, typ: "invalid_request_error", code: "unsupported_media_type",
			message: "content type " + echo(h.ContentType()) + " is not JSON: send the body with Content-Type: application/json (curl: -H 'Content-Type: application/json')"})
		return false
	}
	return true
}

// maxCORSHeaders bounds the header list a preflight may ask for.
const maxCORSHeaders = 1024

// cors lets a page from an allowed origin read the answer, and answers
// its preflight (an OPTIONS request, which carries no key), reporting
// whether it did.
func cors(c *fasthttp.RequestCtx, origin []byte) bool {
	rh := &c.Response.Header
	rh.SetBytesV("Access-Control-Allow-Origin", origin)
	rh.Set("Vary", "Origin")
	rh.Set("Access-Control-Expose-Headers", "x-request-id, x-edgeway-provider, x-edgeway-model, x-edgeway-cache, x-edgeway-failover, retry-after")
	if !c.Request.Header.IsOptions() {
		return false
	}
	rh.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if want := c.Request.Header.Peek("Access-Control-Request-Headers"); len(want) > 0 && len(want) <= maxCORSHeaders && headerList(want) {
		rh.SetBytesV("Access-Control-Allow-Headers", want)
	}
	rh.Set("Access-Control-Max-Age", "600")
	c.SetStatusCode(fasthttp.StatusNoContent)
	return true
}

// headerList reports a comma-separated list of header names.
func headerList(b []byte) bool {
	for _, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_' || ch == ',' || ch == ' ') {
			return false
		}
	}
	return true
}

// jsonContentType reports whether ct is application/json or a +json type,
// with or without parameters.
func jsonContentType(ct []byte) bool {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	const app = "application/"
	if len(ct) < len(app) || !bytes.EqualFold(ct[:len(app)], []byte(app)) {
		return false
	}
	sub := ct[len(app):]
	return bytes.EqualFold(sub, []byte("json")) ||
		len(sub) > len("+json") && bytes.EqualFold(sub[len(sub)-len("+json"):], []byte("+json"))
}

// hostAllowed reports whether a Host header names this gateway. An empty
// Host (HTTP/1.0) is allowed: browsers always send one.
func (g *guardConfig) hostAllowed(host []byte) bool {
	if len(host) == 0 || g.anyHost {
		return true
	}
	name, ok := hostName(host)
	if !ok {
		return false
	}
	if localName(name) || ipLiteral(name) {
		return true
	}
	if len(g.hosts) == 0 {
		return false
	}
	var low [256]byte
	if len(name) > len(low) {
		return false
	}
	_, ok = g.hosts[string(lower(low[:0], name))]
	return ok
}

// originAllowed reports whether a browser origin may call the gateway.
func (g *guardConfig) originAllowed(origin []byte) bool {
	if g.anyOrigin {
		return true
	}
	var low [256]byte
	if len(origin) <= len(low) {
		if _, ok := g.origins[string(bytes.TrimRight(lower(low[:0], origin), "/"))]; ok {
			return true
		}
	}
	rest, ok := bytes.CutPrefix(origin, []byte("http://"))
	if !ok {
		if rest, ok = bytes.CutPrefix(origin, []byte("https://")); !ok {
			return false
		}
	}
	name, ok := hostName(rest)
	return ok && (localName(name) || loopbackIP(name))
}

// hostName returns host[:port] without the port, and IPv6 brackets kept
// off. ok is false for something that is not a host.
func hostName(hp []byte) (name []byte, ok bool) {
	if len(hp) > 0 && hp[0] == '[' {
		end := bytes.IndexByte(hp, ']')
		if end < 2 || (end+1 < len(hp) && hp[end+1] != ':') {
			return nil, false
		}
		return hp[:end+1], true
	}
	if i := bytes.IndexByte(hp, ':'); i >= 0 {
		if bytes.IndexByte(hp[i+1:], ':') >= 0 {
			return nil, false
		}
		hp = hp[:i]
	}
	return hp, len(hp) > 0
}

// localName reports localhost and *.localhost, which resolve to loopback
// only (RFC 6761) and so cannot be a rebinding attacker's name.
func localName(name []byte) bool {
	const l = "localhost"
	name = bytes.TrimSuffix(name, []byte("."))
	if len(name) < len(l) || !bytes.EqualFold(name[len(name)-len(l):], []byte(l)) {
		return false
	}
	return len(name) == len(l) || name[len(name)-len(l)-1] == '.'
}

// ipLiteral reports a dotted IPv4 address or a bracketed IPv6 one: a name
// no DNS lookup produced.
func ipLiteral(name []byte) bool {
	if name[0] == '[' {
		return true
	}
	for _, ch := range name {
		if (ch < '0' || ch > '9') && ch != '.' {
			return false
		}
	}
	return true
}

// loopbackIP reports 127.x.y.z and [::1].
func loopbackIP(name []byte) bool {
	return string(name) == "[::1]" || bytes.HasPrefix(name, []byte("127.")) && ipLiteral(name)
}

func lower(dst, b []byte) []byte {
	for _, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		dst = append(dst, ch)
	}
	return dst
}
