package testkit

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Result is what Do saw of one exchange.
type Result struct {
	Status  int
	Header  http.Header
	Body    []byte
	ReadErr error // error reading the body, e.g. a cut stream
	Err     error // error before a response arrived
}

// Client returns a client with its own transport (closed when the test
// ends) and the given overall timeout (0 for none).
func Client(tb testing.TB, timeout time.Duration) *http.Client {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Do sends method url with body (a JSON body when not empty) and the
// header name/value pairs in hdr, and reads the whole answer. Transport
// errors are returned in the Result, not failed on.
func Do(tb testing.TB, ctx context.Context, c *http.Client, method, url, body string, hdr ...string) Result {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return Result{Err: err}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	return Result{Status: resp.StatusCode, Header: resp.Header, Body: b, ReadErr: rerr}
}
