package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edgeway/edgeway/edge/cache"
	"github.com/edgeway/edgeway/edge/cache/guard"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/edge/glove"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/router"
)

// gloveThreshold is the semantic threshold with the glove embedder.
const gloveThreshold = 0.85

// dbFile is the one bbolt file in the data dir; each package owns its
// buckets in it.
const dbFile = "edgeway.db"

// dbLockTimeout is how long opening the file waits for another process's
// lock: a second edgeway on the same data dir fails at once instead of
// hanging.
const dbLockTimeout = time.Second

// openDB opens (creating) the data dir's bbolt file.
func openDB(dataDir string) (*bbolt.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dataDir, dbFile)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: dbLockTimeout})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%s is in use by another edgeway (stop it, or give this one its own --data-dir)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// routerEmbedder lets the semantic cache embed through the router, so an
// embedding model configured as "provider/model" gets failover too. A
// lookup never queues for a busy runtime (it sits on a request's path, and
// a miss is cheaper than a stall); storing, in the background, may.
type routerEmbedder struct{ r *router.Router }

func (e routerEmbedder) Embed(ctx context.Context, req *llm.EmbedRequest) (*llm.EmbedResponse, error) {
	if cache.Background(ctx) {
		return e.r.Embed(ctx, req, nil)
	}
	return e.r.EmbedNow(ctx, req)
}

// openCache opens the response cache per cfg, or returns nil when it is
// off; semantic says whether the semantic cache is on. notes tell the user
// what was not possible (a missing glove file).
func openCache(db *bbolt.DB, cfg *config.Config, r *router.Router, log *slog.Logger) (c *cache.Cache, semantic bool, notes []string, err error) {
	cc := cfg.Cache
	if !cc.On() || cc.Mode == cache.ModeNever {
		return nil, false, nil, nil
	}
	o := cache.Options{MaxBytes: cc.MaxBytes, DefaultTTL: cc.TTL.D(), Logger: log}
	if sc := cc.Semantic; sc.Enabled {
		so := &cache.SemanticOptions{
			EmbedModel: sc.Embedder,
			Threshold:  float32(sc.Threshold),
			MaxEntries: sc.MaxEntries,
			Guard:      guard.Check,
		}
		if sc.Embedder == "glove" {
			path := sc.GlovePath
			if path == "" {
				// The data dir first (a device ships it there), then where
				// scripts/glove.sh leaves it.
				path = filepath.Join(cfg.DataDir, "glove.bin")
				if _, err := os.Stat(path); err != nil {
					if p, ok := glove.Path(); ok {
						path = p
					}
				}
			}
			if sc.Threshold == 0 {
				// Averaged word vectors score paraphrases lower than an
				// embedding model does; measured on edge/cache/guard's
				// labelled pairs, 0.85 keeps precision at 0.99 with twice
				// the recall of 0.95.
				so.Threshold = gloveThreshold
			}
			g, err := glove.Load(path)
			if err != nil {
				notes = append(notes, fmt.Sprintf("semantic cache off: %v (scripts/glove.sh makes the file)", err))
				so = nil
			} else {
				so.Embedder = g
			}
		} else {
			so.Embedder = routerEmbedder{r}
		}
		if so != nil {
			o.Semantic = so
		}
	}
	c, err = cache.Open(db, o)
	if err != nil {
		return nil, false, notes, fmt.Errorf("cache: %w", err)
	}
	return c, o.Semantic != nil, notes, nil
}

// cacheCmd runs `edgeway cache stats|purge`. It opens the data dir's file
// directly, so it works while the gateway is stopped; a running gateway
// holds the file's lock, and the command says so.
func cacheCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "stats" && args[0] != "purge") {
		fmt.Fprintln(stderr, "usage: edgeway cache stats|purge [--config FILE] [--data-dir DIR] [--namespace N] [--model M]")
		return 2
	}
	sub := args[0]
	fs := flag.NewFlagSet("edgeway cache "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv("EDGEWAY_CONFIG"), "config file; its data_dir is used")
	dataDir := fs.String("data-dir", "", "data directory (overrides the config)")
	ns := fs.String("namespace", "", "purge: only this namespace")
	model := fs.String("model", "", "purge: only entries for this model (as clients named it)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	dir := config.DefaultDataDir
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath, config.Defaults{})
		if err != nil {
			fmt.Fprintf(stderr, "edgeway: %v\n", err)
			return 1
		}
		dir = c.DataDir
	}
	if *dataDir != "" {
		dir = *dataDir
	}
	db, err := openDB(dir)
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: %v\n", err)
		return 1
	}
	defer db.Close()
	c, err := cache.Open(db, cache.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "edgeway: cache: %v\n", err)
		return 1
	}
	defer c.Close()
	if sub == "purge" {
		n, err := c.Purge(*ns, *model)
		if err != nil {
			fmt.Fprintf(stderr, "edgeway: cache purge: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "purged %d entries\n", n)
		return 0
	}
	st := c.Stats()
	fmt.Fprintf(stdout, "entries %d, %d bytes (semantic entries %d), in %s\n", st.Entries, st.Bytes, st.SemanticEntries, filepath.Join(dir, dbFile))
	return 0
}
