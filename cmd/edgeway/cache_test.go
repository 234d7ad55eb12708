package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/llm"
)

func TestCacheCommand(t *testing.T) {
	dir := t.TempDir()
	db, err := openDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(db, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	zero := 0.0
	for _, model := range []string{"chat", "other"} {
		req := &llm.ChatRequest{Model: model, Temperature: &zero, Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Text: "hi"}}}}}
		c.Put(cache.KeyOf("", req), &cache.Entry{RequestModel: model, Model: "m", Text: "hello", FinishReason: llm.FinishStop}, 0)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// While the gateway holds the file, the command says so instead of hanging.
	var out, errb bytes.Buffer
	if code := run([]string{"cache", "stats", "--data-dir", dir}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "in use by another edgeway") {
		t.Errorf("locked: exit %d, stderr %q", code, errb.String())
	}
	c.Close()
	db.Close()

	tests := []struct {
		args []string
		want string
	}{
		{[]string{"cache", "stats", "--data-dir", dir}, "entries 2"},
		{[]string{"cache", "purge", "--data-dir", dir, "--model", "other"}, "purged 1 entries"},
		{[]string{"cache", "stats", "--data-dir", dir}, "entries 1"},
		{[]string{"cache", "purge", "--data-dir", dir}, "purged 1 entries"},
	}
	for _, tc := range tests {
		out.Reset()
		errb.Reset()
		if code := run(tc.args, &out, &errb); code != 0 || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out.String(), errb.String(), tc.want)
		}
	}
	if code := run([]string{"cache"}, &out, &errb); code != 2 {
		t.Errorf("bare cache: exit %d", code)
	}
}
