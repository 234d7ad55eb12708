package cache

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// crashChildEnv makes the test binary run crashChild instead of the tests.
const crashChildEnv = "EDGEWAY_CACHE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path, os.Getenv("EDGEWAY_CACHE_CRASH_ROUND"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashKey and crashText derive an entry from its id, so the parent can
// check what the child wrote from the printed ids alone.
func crashKey(id string) Key { return KeyOf("crash", chat("m", id)) }

func crashText(id string) string {
	n := 200 + int(crashKey(id)[0])*40 // 200 B to 10 KB
	return strings.Repeat(id+" ", n/(len(id)+1)+1)
}

// crashOptions has the semantic cache on, so the drill also kills the
// process in the middle of semantic record writes.
func crashOptions() Options {
	return Options{MaxBytes: 1 << 30, Semantic: &SemanticOptions{Embedder: &bowEmbedder{dim: 64}, EmbedModel: "bow"}}
}

// crashChild writes entries from several goroutines until it is killed.
// An id is printed only after Flush returned: committed to the file.
func crashChild(path, round string) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	c, err := Open(db, crashOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child cache:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	var mu sync.Mutex
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				// Batches of Puts, then a Flush that commits them all.
				var ids []string
				for j := range 1 + i%8 {
					id := fmt.Sprintf("r%s-g%d-%d-%d", round, g, i, j)
					c.Put(crashKey(id), answer(crashText(id)), 0)
					c.PutSemantic("crash", chat("m", id), crashKey(id))
					ids = append(ids, id)
				}
				if err := c.Flush(context.Background()); err != nil {
					continue
				}
				mu.Lock()
				// One write per line: the parent never sees half a line
				// as a whole one.
				os.Stdout.WriteString(strings.Join(ids, "\n") + "\n")
				mu.Unlock()
				// Reads and overwrites load the writer and the lru index.
				c.Get(crashKey(fmt.Sprintf("r%s-g%d-%d-0", round, g, i/2)))
			}
		}()
	}
	select {}
}

func TestCrashDrill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash drill skipped in -short mode")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	acked := map[string]bool{}
	const rounds = 6
	deadline := time.Now().Add(20 * time.Second)
	for round := range rounds {
		if time.Now().After(deadline) {
			t.Fatalf("drill over its time budget after %d rounds", round)
		}
		ids := runCrashChild(t, path, round, time.Duration(100+rng.IntN(600))*time.Millisecond)
		for _, id := range ids {
			acked[id] = true
		}
		verifyCrashFile(t, path, acked)
		t.Logf("round %d: %d acknowledged this round, %d in total", round, len(ids), len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("the child acknowledged nothing")
	}
}

// runCrashChild starts the writer child, lets it run for life after it is
// ready, kills it with SIGKILL and returns the ids it acknowledged.
func runCrashChild(t *testing.T, path string, round int, life time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path, "EDGEWAY_CACHE_CRASH_ROUND="+strconv.Itoa(round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string, 1)
	ready := make(chan struct{})
	go func() {
		r := bufio.NewReader(out)
		var ids []string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// A line cut by the kill has no newline: not acknowledged.
				if err != io.EOF {
					t.Errorf("reading child: %v", err)
				}
				lines <- ids
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "ready" {
				close(ready)
				continue
			}
			ids = append(ids, line)
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child not ready")
	}
	time.Sleep(life)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ids := <-lines
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
	return ids
}

// verifyCrashFile checks the file after a kill: bbolt's consistency check
// passes, every acknowledged entry is there and decodes to what was
// written, and the cache's own bookkeeping agrees with the file.
func verifyCrashFile(t *testing.T, path string, acked map[string]bool) {
	t.Helper()
	db := openDB(t, path)
	defer db.Close()
	err := db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("tx.Check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Open(db, crashOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	missing := 0
	for id := range acked {
		e, ok := c.Get(crashKey(id))
		if !ok || e.Text != crashText(id) {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged entry %s: ok=%v", id, ok)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged entries lost", missing, len(acked))
	}
	// Semantic records were acknowledged by the same Flush. (Which entry
	// a lookup returns is not checked: the toy embedder maps many of these
	// ids to identical vectors.)
	db.View(func(tx *bbolt.Tx) error {
		b, _ := openBuckets(tx)
		for id := range acked {
			k := crashKey(id)
			rec, ok := parseSemVec(b.semVec.Get(k[:]))
			if _, iok := parseSemIdx(b.semIdx.Get(k[:])); !ok || !iok || string(rec.text) != id {
				t.Errorf("acknowledged semantic record %s: semvec %v, semidx %v", id, ok, iok)
			}
		}
		return nil
	})
	for id := range acked {
		if _, _, ok := c.GetSemantic(context.Background(), "crash", chat("m", id)); !ok {
			t.Errorf("no semantic hit for %s", id)
		}
		break
	}
	if s := c.Stats(); s.DecodeErrors != 0 || s.SemanticEntries == 0 {
		t.Errorf("after crash: DecodeErrors = %d, SemanticEntries = %d", s.DecodeErrors, s.SemanticEntries)
	}
	checkRows(t, db)
}
