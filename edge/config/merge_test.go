package config

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestMerge(t *testing.T) {
	tests := []struct {
		name     string
		base     string
		overlays []string
		want     string // YAML, compared as data
		err      string
	}{
		{name: "no overlays", base: "listen: a:1\nmodels:\n  m: [p/x]\n", want: "listen: a:1\nmodels:\n  m: [p/x]\n"},
		{name: "later key wins", base: "listen: a:1\n", overlays: []string{"listen: b:2\n", "listen: c:3\n"}, want: "listen: c:3\n"},
		{name: "maps merge deep", base: "server:\n  max_body_bytes: 10\n  read_timeout: 1s\n", overlays: []string{"server:\n  read_timeout: 2s\n"},
			want: "server:\n  max_body_bytes: 10\n  read_timeout: 2s\n"},
		{name: "lists replace", base: "models:\n  chat: [a/x, b/y]\n", overlays: []string{"models:\n  chat: [c/z]\n"}, want: "models:\n  chat: [c/z]\n"},
		{name: "aliases add up", base: "models:\n  chat: [a/x]\n", overlays: []string{"models:\n  code: [b/y]\n"}, want: "models:\n  chat: [a/x]\n  code: [b/y]\n"},
		{name: "null removes", base: "models:\n  chat: [a/x]\n  code: [b/y]\n", overlays: []string{"models:\n  code: null\n"}, want: "models:\n  chat: [a/x]\n"},
		{name: "empty overlay adds nothing", base: "listen: a:1\n", overlays: []string{"", "# only a comment\n"}, want: "listen: a:1\n"},
		{name: "empty base", base: "", overlays: []string{"listen: b:2\n"}, want: "listen: b:2\n"},
		{name: "map over scalar replaces", base: "pii: x\n", overlays: []string{"pii:\n  default: allow\n"}, want: "pii:\n  default: allow\n"},
		{name: "overlay not a mapping", base: "listen: a:1\n", overlays: []string{"- a\n- b\n"}, err: "overlay 1"},
		{name: "overlay not YAML", base: "listen: a:1\n", overlays: []string{"a: [\n"}, err: "overlay 1"},
		{name: "base not a mapping", base: "just text\n", err: "base"},
		{name: "overlay too large", base: "", overlays: []string{"x: " + strings.Repeat("a", maxConfigBytes) + "\n"}, err: "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ovs := make([][]byte, len(tc.overlays))
			for i, o := range tc.overlays {
				ovs[i] = []byte(o)
			}
			got, err := Merge([]byte(tc.base), ovs...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var g, w any
			if err := yaml.Unmarshal(got, &g); err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal([]byte(tc.want), &w); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestMergeThenParse: a merged document goes through Parse like a file,
// unknown fields and validation included.
func TestMergeThenParse(t *testing.T) {
	base := "providers:\n  - name: a\n    type: openai\n    base_url: http://127.0.0.1:1/v1\nmodels:\n  chat: [a/x]\n"
	doc, err := Merge([]byte(base), []byte("models:\n  chat: [a/y]\npricing:\n  a/y: {input: 1, output: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(strings.NewReader(string(doc)), Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Models["chat"]; len(got) != 1 || got[0] != "a/y" || c.Pricing["a/y"].Output != 2 {
		t.Errorf("merged config: models %v pricing %v", c.Models, c.Pricing)
	}
	doc, err = Merge([]byte(base), []byte("modelz: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(strings.NewReader(string(doc)), Defaults{}); err == nil || !strings.Contains(err.Error(), "modelz") {
		t.Errorf("unknown field from an overlay: err = %v", err)
	}
}

func FuzzMerge(f *testing.F) {
	f.Add([]byte("listen: a:1\n"), []byte("models:\n  m: [a/b]\n"))
	f.Add([]byte(""), []byte("- x\n"))
	f.Add([]byte("a: {b: {c: 1}}\n"), []byte("a: {b: null}\n"))
	f.Fuzz(func(t *testing.T, base, over []byte) {
		out, err := Merge(base, over)
		if err != nil {
			return
		}
		// The output is a mapping Merge itself accepts.
		if _, err := Merge(out); err != nil {
			t.Fatalf("merge output does not merge again: %v\n%s", err, out)
		}
	})
}
