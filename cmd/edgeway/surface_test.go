package main

import (
	"bytes"
	"strings"
	"testing"
)

// A password in base_url is never printed: not by check's provider list,
// not by the start banner (the same printProviders), not in errors.
func TestBaseURLPasswordNeverPrinted(t *testing.T) {
	t.Setenv("EDGEWAY_ADMIN_KEY", "")
	good := writeConfig(t, "data_dir: "+t.TempDir()+"\nproviders:\n  - name: proxy\n    type: openai-compatible\n    base_url: http://user:hunter2secret@127.0.0.1:1/v1\n")
	bad := writeConfig(t, "data_dir: "+t.TempDir()+"\nproviders:\n  - name: proxy\n    type: openai-compatible\n    base_url: http://user:hunter2secret@127.0.0.1:99999/v1\n")
	for _, tc := range []struct {
		name string
		cfg  string
		code int
		want string
	}{
		// check exits 1: the proxy is not reachable, which is beside the point.
		{"check lists providers", good, 1, "http://user:xxxxx@127.0.0.1:1/v1"},
		{"validation error", bad, 1, `port "99999"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"check", "--config", tc.cfg}, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.code || !strings.Contains(all, tc.want) {
				t.Errorf("exit %d (want %d), output lacks %q:\n%s", code, tc.code, tc.want, all)
			}
			if strings.Contains(all, "hunter2secret") {
				t.Errorf("the password is printed:\n%s", all)
			}
		})
	}
}
