package server

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/edgeway/edgeway/edge/audit"
	"github.com/edgeway/edgeway/edge/keys"
	"github.com/edgeway/edgeway/edge/limits"
)

// recAuditor records what the server tells it.
type recAuditor struct {
	mu     sync.Mutex
	events []string
}

func (a *recAuditor) add(s string) {
	a.mu.Lock()
	a.events = append(a.events, s)
	a.mu.Unlock()
}
func (a *recAuditor) AuthFailure(presented, remote string) {
	a.add("auth " + presented + " " + remote)
}
func (a *recAuditor) LimitHit(actor, code string) { a.add("limit " + actor + " " + code) }
func (a *recAuditor) Admin(actor, action, target string) error {
	a.add("admin " + actor + " " + action + " " + target)
	return nil
}
func (a *recAuditor) Tail(n int) ([]audit.Record, error) {
	return []audit.Record{{Seq: 1, Kind: audit.KindAdmin, Action: "x"}}, nil
}
func (a *recAuditor) Verify() (audit.Summary, error) {
	return audit.Summary{}, &audit.ChainError{Seq: 7, Reason: "altered"}
}
func (a *recAuditor) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.events
	a.events = nil
	return e
}

// TestAuditHooks: each refusal and each successful admin change reaches
// the Auditor once, with no secret; failed changes do not.
func TestAuditHooks(t *testing.T) {
	st := keyStore(t)
	member := mustKey(t, st, keys.KeySpec{Name: "app", Policy: keys.Policy{RPM: 1}})
	if _, err := st.PutTeam(keys.Team{Name: "t"}, true); err != nil {
		t.Fatal(err)
	}
	lead := mustKey(t, st, keys.KeySpec{Name: "lead", Team: "t", Role: keys.RoleTeamAdmin})
	a := &recAuditor{}
	url := startServer(t, &fakeRouter{route: replyWords}, Options{Auth: keys.NewAuth(st, testAdminKey), Audit: a, Limits: limits.New(nil)})
	admin := []string{"Authorization", "Bearer " + testAdminKey}
	chat := `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`
	var mk created
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string // the one event, "" for none
	}{
		{"no key", "POST", "/v1/chat/completions", chat, nil, 401, "auth  127.0.0.1"},
		{"wrong key", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer ew-not-a-key-at-all"}, 401, "auth ew-not-a-… 127.0.0.1"},
		{"good key", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer " + member}, 200, ""},
		{"over its rpm", "POST", "/v1/chat/completions", chat, []string{"Authorization", "Bearer " + member}, 429, "limit " + member[:9] + "… (app, "},
		{"team create", "POST", "/admin/teams", `{"name":"ml"}`, admin, 201, "admin admin key team.create ml"},
		{"team create again", "POST", "/admin/teams", `{"name":"ml"}`, admin, 409, ""},
		{"team set", "PUT", "/admin/teams/ml", `{"policy":{"rpm":5}}`, admin, 200, "admin admin key team.set ml"},
		{"key create", "POST", "/admin/keys", `{"name":"k2"}`, admin, 201, "admin admin key key.create "},
		{"bad key create", "POST", "/admin/keys", `{"name":""}`, admin, 400, ""},
		{"audit tail", "GET", "/admin/audit?n=5", "", admin, 200, ""},
		{"audit tail bad n", "GET", "/admin/audit?n=-1", "", admin, 400, ""},
		{"audit for a team admin", "GET", "/admin/audit", "", []string{"Authorization", "Bearer " + lead}, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := send(t, tc.method, url+tc.path, tc.body, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.status)
			}
			if tc.name == "key create" {
				json.Unmarshal(body, &mk)
			}
			got := a.take()
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("audited %q, want nothing", got)
			case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tc.want)):
				t.Errorf("audited %q, want one event %q", got, tc.want)
			}
		})
	}
	for _, op := range []string{"rotate", "revoke"} {
		send(t, "POST", url+"/admin/keys/"+mk.ID+"/"+op, "", admin...)
		if got := a.take(); len(got) != 1 || got[0] != "admin admin key key."+op+" "+mk.ID {
			t.Errorf("%s audited %q", op, got)
		}
	}
	resp, body := send(t, "GET", url+"/admin/audit/verify", "", admin...)
	var v AuditVerdict
	if json.Unmarshal(body, &v); resp.StatusCode != 200 || v.OK || v.Seq != 7 {
		t.Errorf("verify: %d %s", resp.StatusCode, body)
	}
}
