package keys

import (
	"strings"
	"testing"
)

func TestPIIPolicyValidation(t *testing.T) {
	s, _ := openStore(t)
	for _, tc := range []struct {
		pii  string
		want string // substring of the error; "" for success
	}{
		{"", ""},
		{"allow", ""},
		{"redact-for-cloud", ""},
		{"local-only", ""},
		{"block", ""},
		{"redact", "pii policy"},
		{"BLOCK", "pii policy"},
	} {
		t.Run(tc.pii, func(t *testing.T) {
			_, k, err := s.CreateKey(KeySpec{Name: "k", Policy: Policy{PII: tc.pii}})
			if tc.want == "" {
				if err != nil || k.Policy.PII != tc.pii {
					t.Fatalf("CreateKey: %v, policy %+v", err, k)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			_, err = s.PutTeam(Team{Name: "t-" + strings.ToLower(tc.pii) + "x", Policy: Policy{PII: tc.pii}}, true)
			if (err == nil) != (tc.want == "") {
				t.Fatalf("PutTeam: %v", err)
			}
		})
	}
}
