package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/anthropic/anthropictest"
	"github.com/edgeway/edgeway/edge/openai/openaitest"
	"github.com/edgeway/edgeway/edge/testkit"
)

// TestStalledCloudPrimaryFailsOver runs the real binary with a cloud
// primary that never answers and a healthy second cloud target: the
// primary costs first_token_timeout (200ms here, an input, not asserted),
// then the second serves with x-edgeway-failover: 1, and the primary's
// request is canceled. A stream that stops mid-way (stall_timeout) ends
// with the dialect's error event.
func TestStalledCloudPrimaryFailsOver(t *testing.T) {
	primary := anthropictest.NewT(t, anthropictest.Options{APIKey: "sk-e2e"})
	primary.SetMode(anthropictest.Stall)
	backup := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e", Reply: "Hello from the backup."})
	midway := openaitest.NewT(t, openaitest.Options{APIKey: "sk-e2e"})
	midway.SetMode(openaitest.StallMidStream)
	g := startEdgeway(t, providers(
		cloudProvider("primary", "anthropic", primary.URL())+"    first_token_timeout: 200ms\n",
		cloudProvider("backup", "openai", backup.URL()),
		cloudProvider("midway", "openai", midway.URL())+"    stall_timeout: 200ms\n",
	)+`models:
  chat: [primary/`+anthropictest.DefaultModels[0]+`, backup/gpt-4o-mini]
  stalls: [midway/gpt-4o-mini, backup/gpt-4o-mini]
`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := testkit.Client(t, 0)

	res := testkit.Do(t, ctx, c, "POST", g.URL+"/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`)
	if res.Err != nil || res.Status != 200 {
		t.Fatalf("status %d err %v: %s", res.Status, res.Err, res.Body)
	}
	if got := res.Header.Get("x-edgeway-failover"); got != "1" {
		t.Errorf("x-edgeway-failover = %q, want 1", got)
	}
	if got := res.Header.Get("x-edgeway-provider"); got != "backup" || !strings.Contains(string(res.Body), "Hello from the backup.") {
		t.Errorf("served by %q: %s", got, res.Body)
	}
	if backup.Requests() != 1 {
		t.Errorf("backup got %d requests, want 1", backup.Requests())
	}
	testkit.Until(t, "the stalled primary's request canceled", func() bool { return primary.Aborted() == 1 })

	res = testkit.Do(t, ctx, c, "POST", g.URL+"/v1/chat/completions", `{"model":"stalls","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if res.Err != nil || res.Status != 200 {
		t.Fatalf("stream: status %d err %v: %s", res.Status, res.Err, res.Body)
	}
	if body := string(res.Body); !contains(body, `"role":"assistant"`, `"error"`, "stalled") {
		t.Errorf("stream that stopped mid-way: want its chunks and an error event, got\n%s", body)
	}
	testkit.Until(t, "the stalled stream's request canceled", func() bool { return midway.Aborted() == 1 })
}
