package server

import (
	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/keys"
)

// Auditor records who changed what through the admin API and who was
// refused; *audit.Log is the one in use. AuthFailure and LimitHit sit on
// request paths an attacker can flood, so they must only count in memory.
type Auditor interface {
	AuthFailure(presented, remote string)
	LimitHit(actor, code string)
	Admin(actor, action, target string) error
}

// auditAuth records a 401 with the part of the presented key that may be
// shown ("" when none was sent).
func (s *Server) auditAuth(c *fasthttp.RequestCtx, secret []byte) {
	if s.opts.Audit == nil {
		return
	}
	presented := ""
	if len(secret) > 0 {
		presented = shown(secret)
	}
	s.opts.Audit.AuthFailure(presented, c.RemoteIP().String())
}

// auditLimit records a 429 from the limits.
func (s *Server) auditLimit(k *keys.Caller, code string) {
	if s.opts.Audit != nil {
		s.opts.Audit.LimitHit(who(k), code)
	}
}

// audited records a change made through the admin API by k. A change that
// could not be recorded is logged: it has happened, and refusing the
// answer would hide it from the admin too.
func (s *Server) audited(k *keys.Caller, action, target string) {
	if s.opts.Audit == nil {
		return
	}
	if err := s.opts.Audit.Admin(who(k), action, target); err != nil {
		s.log.Error("audit: a change was made but not recorded", "action", action, "target", target, "err", err)
	}
}

// who names a caller in the audit log: never its secret.
func who(k *keys.Caller) string {
	switch {
	case k.Admin:
		return "admin key"
	case k.Key != nil:
		return k.Key.Prefix + "… (" + k.Key.Name + ", " + k.Key.ID + ")"
	}
	return "anyone"
}

// teamAction names a team change in the audit log.
func teamAction(create bool) string {
	if create {
		return "team.create"
	}
	return "team.set"
}
