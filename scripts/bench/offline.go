package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// Offline check bounds.
const (
	offlineWarmup   = 3
	offlineRequests = 200
	offlineTimeout  = 5 * time.Second // per request: far above the target
)

// Offline targets the error body must name.
var offlineTargets = []string{"ollama/tiny", "cloud/gpt-4o-mini"}

// offlineResult is the fail-fast check: every provider down, how quickly
// does edgeway say so?
type offlineResult struct {
	WarmupStatuses []int
	Hist           Histogram // latency of the 503 answers
	Got503         int
	Other          map[int]int // statuses other than 503 (0: transport error)
	Body           string      // first 503 body
	Mentions       map[string]bool
	FirstOther     string
}

// offlineConfig renders a config whose providers both point at closed
// loopback ports.
func offlineConfig(ollamaPort, cloudPort int) configFunc {
	return func(listen, dataDir string) string {
		return fmt.Sprintf(`listen: %s
data_dir: %s
providers:
  - name: ollama
    type: ollama
    base_url: http://127.0.0.1:%d
  - name: cloud
    type: openai-compatible
    base_url: http://127.0.0.1:%d/v1
    api_key: env:BENCH_KEY
models:
  chat: [ollama/tiny, cloud/gpt-4o-mini]
`, listen, dataDir, ollamaPort, cloudPort)
	}
}

// runOffline sends offlineWarmup then offlineRequests sequential chat
// requests on one keep-alive connection to an edgeway with no reachable
// provider.
func runOffline(ctx context.Context, addr string) (*offlineResult, error) {
	c, req, resp, release := postClient(addr, "/v1/chat/completions", offlineTimeout)
	defer release()
	req.SetBodyRaw(chatBody("chat", false))

	res := &offlineResult{Other: make(map[int]int), Mentions: make(map[string]bool)}
	for i := range offlineWarmup + offlineRequests {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("offline: %w", err)
		}
		t0 := time.Now()
		err := c.Do(req, resp)
		d := time.Since(t0)
		status := 0
		if err == nil {
			status = resp.StatusCode()
		}
		if i < offlineWarmup {
			res.WarmupStatuses = append(res.WarmupStatuses, status)
			continue
		}
		if status != fasthttp.StatusServiceUnavailable {
			res.Other[status]++
			if res.FirstOther == "" {
				if err != nil {
					res.FirstOther = err.Error()
				} else {
					res.FirstOther = fmt.Sprintf("status %d: %s", status, clip(resp.Body(), maxErrorSample))
				}
			}
			continue
		}
		res.Got503++
		res.Hist.Record(d)
		if res.Body == "" {
			body := resp.Body()
			res.Body = clip(body, 2*maxErrorSample)
			for _, t := range offlineTargets {
				res.Mentions[t] = bytes.Contains(body, []byte(t))
			}
		}
	}
	return res, nil
}

// mentionsAll reports whether the 503 body named every target.
func (r *offlineResult) mentionsAll() bool {
	for _, t := range offlineTargets {
		if !r.Mentions[t] {
			return false
		}
	}
	return true
}

func clip(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
