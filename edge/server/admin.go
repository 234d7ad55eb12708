package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/keys"
)

// The admin API: JSON under /admin/, for the admin key (everything) and
// team-admin keys (their own team's keys). The CLI's keys and teams
// commands are its clients.
//
//	POST /admin/keys              {name, team, role, policy, tags, expires}  → 201 {key, ...}
//	GET  /admin/keys[?team=T]                                                → {keys: [...]}
//	POST /admin/keys/{id}/revoke                                             → {...}
//	POST /admin/keys/{id}/rotate                                             → {key, ...}
//	POST /admin/teams             {name, policy, tags}                       → 201 {...}
//	GET  /admin/teams                                                        → {teams: [...]}
//	PUT  /admin/teams/{name}      {policy, tags}                             → {...}
//	GET  /admin/usage[?by=key|team|model|provider][&since=7d]                → {since, rows: [...]}
//	GET  /admin/audit[?n=N], /admin/audit/verify (admin key only)            → see adminAudit

// adminError is the admin API's error body.
func adminError(c *fasthttp.RequestCtx, status int, code, msg string) {
	writeOpenAIError(c, &apiError{status: status, typ: "invalid_request_error", code: code, message: msg})
}

func adminJSON(c *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		adminError(c, 500, "internal", "encode: "+err.Error())
		return
	}
	c.SetStatusCode(status)
	c.SetContentType("application/json")
	c.SetBody(append(b, '\n'))
}

// admin serves /admin/.
func (s *Server) admin(c *fasthttp.RequestCtx, path string) {
	var st *keys.Store
	if s.opts.Auth != nil {
		st = s.opts.Auth.Store()
	}
	k := caller(c)
	switch {
	case st == nil || s.opts.Auth == nil || !s.opts.Auth.HasAdmin():
		adminError(c, 403, "admin_disabled", "the admin API needs an admin key: set auth.admin_key (or EDGEWAY_ADMIN_KEY) and restart")
		return
	case !k.Admin && (k.Key == nil || k.Key.Role != keys.RoleTeamAdmin):
		adminError(c, 403, "not_admin", "this key may not use the admin API (it needs the admin key or a team-admin key)")
		return
	}
	rest := strings.TrimPrefix(path, "/admin/")
	seg := strings.Split(rest, "/")
	m := string(c.Method())
	switch {
	case rest == "keys" && m == "GET":
		team := string(c.QueryArgs().Peek("team"))
		if !k.Admin {
			team = k.Key.Team
		}
		list := st.Keys(team)
		if list == nil {
			list = []*keys.Key{} // [] in JSON, not null
		}
		adminJSON(c, 200, map[string]any{"keys": list})
	case rest == "keys" && m == "POST":
		s.adminCreateKey(c, st, k)
	case len(seg) == 3 && seg[0] == "keys" && m == "POST" && (seg[2] == "revoke" || seg[2] == "rotate"):
		key, ok := st.Key(seg[1])
		if !ok || !k.ManagesTeam(key.Team) {
			adminError(c, 404, "not_found", "no key with id "+clipShown(seg[1]))
			return
		}
		if seg[2] == "revoke" {
			key, err := st.Revoke(key.ID)
			if err != nil {
				adminStoreError(c, err)
				return
			}
			s.audited(k, "key.revoke", key.ID)
			adminJSON(c, 200, key)
			return
		}
		secret, key, err := st.Rotate(key.ID)
		if err != nil {
			adminStoreError(c, err)
			return
		}
		s.audited(k, "key.rotate", key.ID)
		adminJSON(c, 200, created{secret, key})
	case rest == "teams" && m == "GET":
		teams := []*keys.Team{}
		for _, t := range st.Teams() {
			if k.ManagesTeam(t.Name) {
				teams = append(teams, t)
			}
		}
		adminJSON(c, 200, map[string]any{"teams": teams})
	case (rest == "teams" && m == "POST") || (len(seg) == 2 && seg[0] == "teams" && m == "PUT"):
		if !k.Admin {
			adminError(c, 403, "not_admin", "only the admin key may create or change teams")
			return
		}
		var t keys.Team
		if !adminDecode(c, &t) {
			return
		}
		create := m == "POST"
		if !create {
			t.Name = seg[1]
		}
		team, err := st.PutTeam(t, create)
		if err != nil {
			adminStoreError(c, err)
			return
		}
		s.audited(k, teamAction(create), team.Name)
		status := 200
		if create {
			status = 201
		}
		adminJSON(c, status, team)
	case rest == "usage" && m == "GET":
		s.adminUsage(c, k)
	case (rest == "audit" || rest == "audit/verify") && m == "GET":
		s.adminAudit(c, k, rest)
	default:
		adminError(c, 404, "unknown_url", m+" "+clipShown(path)+" is not an admin operation")
	}
}

// adminUsage sums the ledger; a team admin sees its own team only.
func (s *Server) adminUsage(c *fasthttp.RequestCtx, k *keys.Caller) {
	if s.opts.Usage == nil {
		adminError(c, 404, "no_ledger", "this gateway keeps no usage ledger")
		return
	}
	q := c.QueryArgs()
	since := 7 * 24 * time.Hour
	if v := q.Peek("since"); len(v) > 0 {
		d, err := keys.ParseDuration(string(v))
		if err != nil {
			adminError(c, 400, "invalid_since", "since: "+err.Error())
			return
		}
		since = d
	}
	team := ""
	if !k.Admin {
		team = k.Key.Team
	}
	from := time.Now().Add(-since).UTC()
	rows, err := s.opts.Usage.Report(from, string(q.Peek("by")), team)
	if err != nil {
		adminError(c, 400, "invalid_by", err.Error())
		return
	}
	out := map[string]any{"since": from.Truncate(time.Hour), "rows": rows}
	if k.Admin {
		out["outbox"] = s.opts.Usage.Stats()
	}
	adminJSON(c, 200, out)
}

// created is a new or rotated key: the only time its text is shown.
type created struct {
	Secret string `json:"key"`
	*keys.Key
}

// keyRequest is POST /admin/keys.
type keyRequest struct {
	keys.KeySpec
	// Expires is a lifetime such as "30d".
	Expires string `json:"expires,omitempty"`
}

func (s *Server) adminCreateKey(c *fasthttp.RequestCtx, st *keys.Store, k *keys.Caller) {
	var req keyRequest
	if !adminDecode(c, &req) {
		return
	}
	if !k.Admin {
		// A team admin mints member keys for its own team only.
		if req.Team == "" {
			req.Team = k.Key.Team
		}
		if req.Team != k.Key.Team || (req.Role != "" && req.Role != keys.RoleMember) {
			adminError(c, 403, "not_admin", "a team-admin key creates member keys of its own team only")
			return
		}
	}
	if req.Expires != "" {
		d, err := keys.ParseDuration(req.Expires)
		if err != nil {
			adminError(c, 400, "invalid_expires", "expires: "+err.Error())
			return
		}
		req.TTL = d
	}
	secret, key, err := st.CreateKey(req.KeySpec)
	if err != nil {
		adminStoreError(c, err)
		return
	}
	s.audited(k, "key.create", key.ID)
	adminJSON(c, 201, created{secret, key})
}

// adminDecode reads a JSON body strictly: an unknown field is a typo the
// caller should hear about, not a setting silently ignored.
func adminDecode(c *fasthttp.RequestCtx, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(c.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		adminError(c, 400, "invalid_json", "request body: "+clipShown(err.Error()))
		return false
	}
	return true
}

func adminStoreError(c *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, keys.ErrNotFound):
		adminError(c, 404, "not_found", err.Error())
	case errors.Is(err, keys.ErrExists):
		adminError(c, 409, "exists", err.Error())
	default:
		adminError(c, 400, "invalid", err.Error())
	}
}
