package server

import (
	"errors"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/edgeway/edgeway/edge/audit"
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

// AuditReader is the optional ability of an Auditor to show its log
// through the admin API while the gateway holds the data file.
type AuditReader interface {
	Tail(n int) ([]audit.Record, error)
	Verify() (audit.Summary, error)
}

// AuditVerdict is GET /admin/audit/verify's answer: OK, or the record at
// fault and why.
type AuditVerdict struct {
	OK      bool   `json:"ok"`
	Records uint64 `json:"records,omitempty"`
	Head    string `json:"head,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// maxAuditTail bounds the records one admin answer carries.
const maxAuditTail = 10000

// adminAudit serves GET /admin/audit[?n=N] ({records: [...]}, oldest
// first) and GET /admin/audit/verify (an AuditVerdict), to the admin key
// only: the log names every key and team.
func (s *Server) adminAudit(c *fasthttp.RequestCtx, k *keys.Caller, rest string) {
	r, ok := s.opts.Audit.(AuditReader)
	switch {
	case !k.Admin:
		adminError(c, 403, "not_admin", "only the admin key may read the audit log")
		return
	case !ok:
		adminError(c, 404, "no_audit", "this gateway keeps no audit log")
		return
	}
	if rest == "audit/verify" {
		sum, err := r.Verify()
		var ce *audit.ChainError
		switch {
		case errors.As(err, &ce):
			adminJSON(c, 200, AuditVerdict{Seq: ce.Seq, Reason: ce.Reason})
		case err != nil:
			adminError(c, 500, "audit", err.Error())
		default:
			adminJSON(c, 200, AuditVerdict{OK: true, Records: sum.Records, Head: sum.Head})
		}
		return
	}
	n := 20
	if v := c.QueryArgs().Peek("n"); len(v) > 0 {
		var err error
		if n, err = strconv.Atoi(string(v)); err != nil || n < 0 || n > maxAuditTail {
			adminError(c, 400, "invalid_n", "n: want a count from 0 to "+strconv.Itoa(maxAuditTail))
			return
		}
	}
	recs, err := r.Tail(n)
	if err != nil {
		adminError(c, 500, "audit", err.Error())
		return
	}
	if recs == nil {
		recs = []audit.Record{}
	}
	adminJSON(c, 200, map[string]any{"records": recs})
}
