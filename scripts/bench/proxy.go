package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// proxyEnv, set to an upstream host:port, makes this binary the
// pass-through proxy instead of the benchmark (the benchmark starts itself
// again with it, so the proxy, like edgeway, is a process of its own).
const proxyEnv = "EDGEWAY_BENCH_PROXY_UPSTREAM"

// serveProxy is the practical limit for a gateway on this hardware: the
// same fasthttp, parsing nothing beyond HTTP, copying the request to the
// upstream and the upstream's bytes back (streams chunk by chunk as they
// arrive). It prints its address on stdout's first line and serves until
// stdin closes, which is how the benchmark stops it.
func serveProxy(upstream string, stdin io.Reader, stdout io.Writer) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		return 1
	}
	hc := &fasthttp.HostClient{Addr: upstream, MaxConns: maxConns, StreamResponseBody: true}
	srv := &fasthttp.Server{
		Handler: func(c *fasthttp.RequestCtx) {
			resp := fasthttp.AcquireResponse()
			if err := hc.Do(&c.Request, resp); err != nil {
				fasthttp.ReleaseResponse(resp)
				c.Error(err.Error(), fasthttp.StatusBadGateway)
				return
			}
			resp.Header.CopyTo(&c.Response.Header)
			if s := resp.BodyStream(); s != nil {
				c.Response.SetBodyStream(&proxiedBody{Reader: s, resp: resp}, -1)
				return
			}
			c.Response.SetBody(resp.Body())
			fasthttp.ReleaseResponse(resp)
		},
		NoDefaultDate: true,
		Concurrency:   4 * maxConns,
	}
	fmt.Fprintln(stdout, ln.Addr().String())
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		_ = srv.Shutdown()
	}()
	if err := srv.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		return 1
	}
	return 0
}

// proxiedBody releases the upstream response once its stream is copied.
type proxiedBody struct {
	io.Reader
	resp *fasthttp.Response
}

func (b *proxiedBody) Close() error {
	err := b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	return err
}

// proxyProc is a running pass-through proxy process.
type proxyProc struct {
	addr  string
	pid   int
	cmd   *exec.Cmd
	stdin io.Closer
}

// proxyStart bounds how long the proxy may take to print its address.
const proxyStart = 10 * time.Second

// startProxy starts this binary again as the pass-through proxy in front
// of upstream and reads the address it listens on (no port is picked
// here, so none can be taken meanwhile).
func startProxy(ctx context.Context, upstream string, log io.Writer) (*proxyProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), proxyEnv+"="+upstream)
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	line := make(chan string, 1)
	cmd.Stdout = &firstLine{ch: line}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &proxyProc{pid: cmd.Process.Pid, cmd: cmd, stdin: stdin}
	t := time.NewTimer(proxyStart)
	defer t.Stop()
	select {
	case p.addr = <-line:
	case <-t.C:
	case <-ctx.Done():
	}
	if _, _, err := net.SplitHostPort(p.addr); err != nil {
		p.stop()
		return nil, errors.New("proxy: did not report its address")
	}
	return p, nil
}

// firstLine hands the first line written to it to ch and drops the rest.
type firstLine struct {
	ch   chan string
	buf  []byte
	sent bool
}

func (w *firstLine) Write(p []byte) (int, error) {
	if !w.sent {
		w.buf = append(w.buf, p...)
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
			w.ch <- strings.TrimSpace(string(w.buf[:i]))
			w.sent, w.buf = true, nil
		}
	}
	return len(p), nil
}

// stop closes the proxy's stdin, which makes it shut down, and reaps it;
// SIGKILL if it does not go in time.
func (p *proxyProc) stop() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	t := time.NewTimer(termWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-done
	}
}
