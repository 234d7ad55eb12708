package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process bounds.
const (
	healthWait   = 15 * time.Second // edgeway probes providers (≤2 s) before serving
	healthPoll   = 20 * time.Millisecond
	termWait     = 5 * time.Second // SIGTERM → exit, before SIGKILL
	killWait     = 2 * time.Second
	startRetries = 3 // when the port picked for edgeway was taken meanwhile
	logHeadBytes = 8 << 10
	logTailBytes = 24 << 10
)

// boundedLog keeps the first logHeadBytes and the last logTailBytes written
// to it, so a chatty process cannot grow the benchmark's memory. It is safe
// for concurrent use.
type boundedLog struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte // ring contents in order, at most logTailBytes
	dropped int64
}

func (l *boundedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	if room := logHeadBytes - len(l.head); room > 0 {
		k := min(room, len(p))
		l.head = append(l.head, p[:k]...)
		p = p[k:]
	}
	l.tail = append(l.tail, p...)
	if over := len(l.tail) - logTailBytes; over > 0 {
		l.dropped += int64(over)
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
	return n, nil
}

// String returns the kept log, marking the gap when something was dropped.
func (l *boundedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	b.Write(l.head)
	if l.dropped > 0 {
		fmt.Fprintf(&b, "\n... [%d bytes of log dropped] ...\n", l.dropped)
	}
	b.Write(l.tail)
	return b.String()
}

// edgewayProc is a running edgeway serve process.
type edgewayProc struct {
	name   string
	addr   string // 127.0.0.1:PORT it serves on
	dir    string // temp dir with config and data
	cmd    *exec.Cmd
	log    *boundedLog
	exited chan struct{} // closed when the process has been reaped
	err    error         // Wait's result, valid once exited is closed

	stopOnce sync.Once
}

// configFunc renders edgeway's YAML config for a listen address and data
// directory.
type configFunc func(listen, dataDir string) string

// startEdgeway starts bin serve with the config cfg renders and waits
// (boundedly) until /healthz answers 200. On error the process is stopped.
func startEdgeway(ctx context.Context, name, bin string, env []string, cfg configFunc) (*edgewayProc, error) {
	var lastErr error
	for range startRetries {
		p, err := startOnce(ctx, name, bin, env, cfg)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if p == nil || !strings.Contains(p.log.String(), "address already in use") {
			break
		}
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, name, bin string, env []string, cfg configFunc) (*edgewayProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	dir, err := os.MkdirTemp("", "edgeway-bench-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &edgewayProc{
		name:   name,
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		dir:    dir,
		log:    &boundedLog{},
		exited: make(chan struct{}),
	}
	conf := filepath.Join(dir, "edgeway.yaml")
	if err := os.WriteFile(conf, []byte(cfg(p.addr, filepath.Join(dir, "data"))), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p.cmd = exec.Command(bin, "serve", "--config", conf)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so a Ctrl-C reaches only the benchmark,
		// which then stops edgeway in order; and SIGKILL should the
		// benchmark itself die without cleaning up.
		Setpgid:   true,
		Pdeathsig: syscall.SIGKILL,
	}
	if err := p.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	if err := p.waitHealthy(ctx); err != nil {
		p.stop()
		return p, fmt.Errorf("%s: %w\n--- edgeway log ---\n%s", name, err, p.log.String())
	}
	return p, nil
}

// waitHealthy polls /healthz until it answers 200, the process exits, ctx
// ends or healthWait passes.
func (p *edgewayProc) waitHealthy(ctx context.Context) error {
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	url := "http://" + p.addr + "/healthz"
	deadline := time.Now().Add(healthWait)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("exited before serving: %v", p.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(healthPoll):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/healthz not 200 within %v (last: %s)", healthWait, last)
		}
	}
}

// alive reports whether the process is still running.
func (p *edgewayProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after termWait, and removes the temp
// dir. It is safe to call more than once.
func (p *edgewayProc) stop() {
	p.stopOnce.Do(func() {
		defer os.RemoveAll(p.dir)
		if !p.alive() {
			return
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			return
		case <-time.After(termWait):
		}
		fmt.Fprintf(os.Stderr, "bench: %s did not stop within %v of SIGTERM; killing it\n", p.name, termWait)
		_ = p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(killWait):
			fmt.Fprintf(os.Stderr, "bench: %s (pid %d) did not die after SIGKILL\n", p.name, p.cmd.Process.Pid)
		}
	})
}

// memory returns VmRSS and VmHWM (peak RSS) of the process in KiB.
func (p *edgewayProc) memory() (rssKB, hwmKB int64, err error) {
	if !p.alive() {
		return 0, 0, errors.New("process has exited")
	}
	return procMemory(p.cmd.Process.Pid)
}

// procMemory reads VmRSS and VmHWM from /proc/PID/status.
func procMemory(pid int) (rssKB, hwmKB int64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	return parseStatus(data)
}

// parseStatus takes VmRSS and VmHWM ("VmRSS:	   12345 kB") out of a
// /proc/PID/status file.
func parseStatus(data []byte) (rssKB, hwmKB int64, err error) {
	var gotRSS, gotHWM bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("status: odd %s line %q", key, val)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("status: %s: %w", key, err)
		}
		if key == "VmRSS" {
			rssKB, gotRSS = n, true
		} else {
			hwmKB, gotHWM = n, true
		}
	}
	if !gotRSS || !gotHWM {
		return 0, 0, errors.New("status: no VmRSS/VmHWM")
	}
	return rssKB, hwmKB, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
