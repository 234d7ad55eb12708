package main

// Live config: the file (polled), SIGHUP and the fleet's KV bucket all
// lead to one reload, which reads the file, lays the fleet's overlays
// over it (config.Merge), and parses and validates the result exactly as
// a start does. A config that passes is built into a new router and a new
// server.Server that share the long-lived parts of the running gateway
// (listener, bbolt file, cache, key store, ledger, limiter, audit log),
// and the listening server hands new requests to it (server.Replace):
// requests in flight finish on the old one. A config that fails is
// refused: the running one stays, the refusal is logged and, with a
// fleet, published on edgeway.status.<device>. The config applied last
// is kept in bbolt as last-known-good, so a device that starts with its
// link down runs on what the fleet last told it.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/bbolt"
	"go.yaml.in/yaml/v3"

	"github.com/edgeway/edgeway/board"
	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/sync/fleet"
)

const (
	// configPoll is how often the config file is checked for a change
	// (size, mtime, then content hash). Polling, because the standard
	// library has no file-change notification and a dependency for it
	// is not worth one stat every two seconds.
	configPoll = 2 * time.Second
	// configHistory is how many revisions per key the bucket keeps when
	// a device creates it (the fleet side may create it first).
	configHistory = 16
	// fleetRetryMin is the first wait before watching the bucket again.
	fleetRetryMin = time.Second
	// fleetRetryMax bounds the wait between attempts to reach the bucket
	// while NATS is unreachable.
	fleetRetryMax = 30 * time.Second
)

// lkgBucket holds the last-known-good fleet overlays under lkgKey.
var (
	lkgBucket = []byte("fleet/config/v1")
	lkgKey    = []byte("applied")
)

// Reload sources, as logged and published.
const (
	sourceStart = "start"
	sourceFile  = "file"
	sourceHUP   = "sighup"
	sourceFleet = "fleet"
	sourceLKG   = "last-known-good"
)

// overlay is one fleet key's document and the bucket revision it came
// from.
type overlay struct {
	Data     []byte `json:"data"`
	Revision uint64 `json:"revision"`
}

// lkgRecord is what lkgBucket keeps: the overlays of the config applied
// last, by bucket key.
type lkgRecord struct {
	Overlays map[string]overlay `json:"overlays"`
	Hash     string             `json:"hash"`
	At       time.Time          `json:"at"`
}

// AppliedConfig says which config a device runs: for its status
// heartbeat.
type AppliedConfig struct {
	// Hash is the SHA-256 (hex, first 16) of the merged document.
	Hash string `json:"hash"`
	// Revisions are the bucket revisions of the fleet overlays in it, by
	// key ("global", "group.<name>", "device.<id>").
	Revisions map[string]uint64 `json:"revisions,omitempty"`
	// Source is what applied it: start, file, sighup, fleet or
	// last-known-good.
	Source string    `json:"source"`
	At     time.Time `json:"at"`
}

// appliedConfig is the running serve's applied config, nil before the
// first; appliedConfigNow reads it for the status heartbeat.
var appliedConfig atomic.Pointer[AppliedConfig]

// liveGateway is the gateway serving new requests, for the heartbeat:
// a reload replaces its router.
var liveGateway atomic.Pointer[gateway]

// appliedConfigNow returns the config the gateway runs now, or nil
// before serve has started one.
func appliedConfigNow() *AppliedConfig { return appliedConfig.Load() }

// refusal is published on StatusSubject(device) when a config is refused.
type refusal struct {
	Type      string            `json:"type"` // "config_refused"
	Device    string            `json:"device"`
	Source    string            `json:"source"`
	Revisions map[string]uint64 `json:"revisions,omitempty"`
	Problems  []string          `json:"problems"`
	// Running is the hash of the config that stays.
	Running string    `json:"running"`
	At      time.Time `json:"at"`
}

// reloader applies config changes to a running gateway. Reloads are
// serialised by mu; the gateway's listening server (front) never changes.
type reloader struct {
	flags  *commonFlags
	prof   board.Profile
	log    *slog.Logger
	db     *bbolt.DB
	tooHot func() bool
	front  *gateway // the gateway built at start: it owns the listener
	ctx    context.Context

	// publish sends a refusal to the fleet; nil without one.
	publish atomic.Pointer[func(subject string, data []byte) error]
	device  string
	keys    []string // fleet.ConfigKeys(device, group)

	mu       sync.Mutex
	gw       *gateway // the one serving new requests
	cfg      *config.Config
	overlays map[string]overlay // in the running config
	// received are the keys' latest values from the bucket, valid or not:
	// the device runs the file merged with all of them, or, while that
	// does not validate, the last config that did.
	received map[string]overlay
	fileSum  [32]byte
	applied  *AppliedConfig

	wg     sync.WaitGroup
	cancel context.CancelFunc
	nc     *nats.Conn
}

// withLastKnownGood lays the last-known-good fleet overlays kept in db
// over the file's config, for a device with a fleet: it starts on what
// the fleet told it last, link or no link. A kept config that no longer
// validates over the file (the file changed) is dropped with a warning.
// It returns the config to start with and the overlays in it.
func withLastKnownGood(f *commonFlags, prof board.Profile, cfg *config.Config, db *bbolt.DB, log *slog.Logger) (*config.Config, map[string]overlay) {
	if cfg.Fleet.URL == "" || db == nil {
		return cfg, nil
	}
	rec, err := loadLKG(db)
	if err != nil {
		log.Warn("config: last-known-good not read", "err", err)
		return cfg, nil
	}
	if rec == nil || len(rec.Overlays) == 0 {
		return cfg, nil
	}
	device, err := fleet.DeviceID(cfg.Fleet, db)
	if err != nil {
		log.Warn("config: last-known-good not used", "err", err)
		return cfg, nil
	}
	ovs := make(map[string]overlay)
	for _, k := range fleet.ConfigKeys(device, cfg.Fleet.Group) {
		if o, ok := rec.Overlays[k]; ok {
			ovs[k] = o
		}
	}
	base, err := baseDoc(f, prof)
	if err != nil {
		log.Warn("config: last-known-good not used", "err", err)
		return cfg, nil
	}
	c, _, err := mergedConfig(f, prof, base, fleet.ConfigKeys(device, cfg.Fleet.Group), ovs)
	if err != nil {
		log.Warn("config: last-known-good does not fit the file any more; starting on the file alone", "err", err)
		return cfg, nil
	}
	log.Info("config: starting on the last-known-good fleet config", "revisions", revisions(ovs), "saved", rec.At)
	return c, ovs
}

// startReload begins watching the file, SIGHUP and (with a fleet) the
// bucket; gw is the running gateway and cfg its config, ovs the fleet
// overlays in it. Close stops it.
func startReload(ctx context.Context, f *commonFlags, prof board.Profile, cfg *config.Config, ovs map[string]overlay,
	gw *gateway, db *bbolt.DB, tooHot func() bool, log *slog.Logger) (*reloader, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &reloader{flags: f, prof: prof, log: log, db: db, tooHot: tooHot, front: gw, ctx: ctx, cancel: cancel,
		gw: gw, cfg: cfg, overlays: cloneOverlays(ovs), received: cloneOverlays(ovs)}
	base, err := baseDoc(f, prof)
	if err != nil {
		cancel()
		return nil, err
	}
	r.fileSum = sha256.Sum256(base)
	src := sourceStart
	if len(ovs) > 0 {
		src = sourceLKG
	}
	r.applied = &AppliedConfig{Hash: docHash(cfg), Revisions: revisions(ovs), Source: src, At: time.Now()}
	appliedConfig.Store(r.applied)
	liveGateway.Store(gw)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	r.wg.Go(func() {
		defer signal.Stop(hup)
		t := time.NewTicker(configPoll)
		defer t.Stop()
		var st fileStat
		if f.config != "" {
			st, _ = statFile(f.config)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				r.log.Info("config: SIGHUP, reloading")
				r.reload(sourceHUP, nil)
			case <-t.C:
				if f.config == "" {
					continue
				}
				// Size and mtime first: one stat per poll; the content
				// hash (in reload) decides whether anything changed.
				if now, err := statFile(f.config); err == nil && now != st {
					st = now
					r.reload(sourceFile, nil)
				}
			}
		}
	})
	if cfg.Fleet.URL != "" && db != nil {
		if r.device, err = fleet.DeviceID(cfg.Fleet, db); err != nil {
			cancel()
			return nil, err
		}
		r.keys = fleet.ConfigKeys(r.device, cfg.Fleet.Group)
		resolve, _, err := secretResolver(cfg, db)
		if err != nil {
			cancel()
			return nil, err
		}
		nc, err := fleet.Connect(cfg.Fleet, r.device, resolve, log)
		if err != nil {
			cancel()
			return nil, err
		}
		r.nc = nc
		pub := func(subject string, data []byte) error { return nc.Publish(subject, data) }
		r.publish.Store(&pub)
		r.wg.Go(func() { r.watchFleet(ctx, nc) })
	}
	return r, nil
}

// Close stops watching and closes the router of the config applied
// last (the start's router is closed by serve).
func (r *reloader) Close() {
	r.cancel()
	r.wg.Wait()
	if r.nc != nil {
		r.nc.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gw != r.front {
		r.gw.router.Close()
	}
}

type fileStat struct {
	size  int64
	mtime time.Time
}

func statFile(path string) (fileStat, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{}, err
	}
	return fileStat{fi.Size(), fi.ModTime()}, nil
}

// watchFleet follows the device's keys in the bucket, retrying with
// backoff while NATS is unreachable, and reloads on every change. The
// watcher first delivers the keys' current values: they are applied as
// one reload, skipped when they are the last-known-good already running.
func (r *reloader) watchFleet(ctx context.Context, nc *nats.Conn) {
	wait := fleetRetryMin
	for ctx.Err() == nil {
		watched, err := r.watchOnce(ctx, nc)
		if ctx.Err() != nil {
			return
		}
		if watched {
			wait = fleetRetryMin // it worked for a while: start over
		}
		// Jitter: a fleet that lost its NATS together must not come back
		// in step.
		d := wait/2 + rand.N(wait/2+1)
		r.log.Warn("config: fleet bucket not watched; retrying", "err", err, "in", d)
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		wait = min(2*wait, fleetRetryMax)
	}
}

// watchOnce watches until the watch fails; watched says it had caught up
// with the bucket before.
func (r *reloader) watchOnce(ctx context.Context, nc *nats.Conn) (watched bool, err error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return false, err
	}
	kv, err := js.KeyValue(ctx, fleet.ConfigBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: fleet.ConfigBucket, History: configHistory,
			Description: "edgeway config overlays: global, group.<name>, device.<id>"})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, fleet.ConfigBucket)
		}
	}
	if err != nil {
		return false, fmt.Errorf("bucket %s: %w", fleet.ConfigBucket, err)
	}
	// A copy: WatchFiltered rewrites the slice it is given into subjects.
	w, err := kv.WatchFiltered(ctx, slices.Clone(r.keys))
	if err != nil {
		return false, fmt.Errorf("watch: %w", err)
	}
	defer w.Stop()
	initial := map[string]overlay{}
	caughtUp := false
	for {
		select {
		case <-ctx.Done():
			return caughtUp, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return caughtUp, errors.New("watch ended")
			}
			if e == nil {
				caughtUp = true
				r.reload(sourceFleet, initial)
				continue
			}
			var o *overlay
			if e.Operation() == jetstream.KeyValuePut {
				o = &overlay{Data: e.Value(), Revision: e.Revision()}
			}
			if !caughtUp {
				if o != nil {
					initial[e.Key()] = *o
				}
				continue
			}
			r.reload(sourceFleet, nil, withOverlay(e.Key(), o))
		}
	}
}

// withOverlay is a change to one key: o nil deletes it.
func withOverlay(key string, o *overlay) func(map[string]overlay) {
	return func(m map[string]overlay) {
		if o == nil {
			delete(m, key)
		} else {
			m[key] = *o
		}
	}
}

// reload builds the config from the file and the received overlays and
// applies it, or refuses it. initial (the watch's first values) replaces
// the received overlays; edits change single keys. It reports whether a
// new config was applied.
func (r *reloader) reload(source string, initial map[string]overlay, edits ...func(map[string]overlay)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if initial != nil {
		r.received = cloneOverlays(initial)
	}
	for _, e := range edits {
		e(r.received)
	}
	ovs := cloneOverlays(r.received)
	base, err := baseDoc(r.flags, r.prof)
	if err != nil {
		r.refuse(source, ovs, []string{err.Error()})
		return false
	}
	sum := sha256.Sum256(base)
	if (source == sourceFile || source == sourceFleet) && sum == r.fileSum && reflect.DeepEqual(revisions(ovs), revisions(r.overlays)) {
		return false // nothing changed (a touch, or the last-known-good again)
	}
	cfg, doc, err := mergedConfig(r.flags, r.prof, base, r.keys, ovs)
	if err != nil {
		r.refuse(source, ovs, problems(err))
		return false
	}
	if p := restartOnly(r.cfg, cfg); len(p) > 0 {
		r.refuse(source, ovs, p)
		return false
	}
	gw, notes, err := assemble(cfg, r.log, r.tooHot, r.db, r.gw)
	if err != nil {
		r.refuse(source, ovs, problems(err))
		return false
	}
	if gw.auth.Open() && !loopback(cfg.Listen) {
		r.refuse(source, ovs, []string{"no admin key and no keys on " + cfg.Listen + ", which is not loopback: anyone who can reach it could spend the providers' credits"})
		return false
	}
	for _, n := range notes {
		r.log.Info("config: note", "note", n)
	}
	gw.router.Start(r.ctx)
	r.front.server.Replace(gw.server)
	// The old router keeps routing the requests it has: Close only stops
	// its probes, and closing idle connections leaves the busy ones,
	// which the transport's idle timeout closes once their requests end.
	if r.gw != r.front {
		r.gw.router.Close()
	}
	for _, c := range r.gw.idlers {
		c.CloseIdleConnections()
	}
	r.gw, r.cfg, r.overlays, r.fileSum = gw, cfg, ovs, sum
	liveGateway.Store(gw)
	r.applied = &AppliedConfig{Hash: hashOf(doc), Revisions: revisions(ovs), Source: source, At: time.Now()}
	appliedConfig.Store(r.applied)
	if r.db != nil && r.keys != nil {
		if err := saveLKG(r.db, &lkgRecord{Overlays: ovs, Hash: r.applied.Hash, At: r.applied.At}); err != nil {
			r.log.Error("config: last-known-good not saved", "err", err)
		}
	}
	if gw.audit != nil {
		ev, err := configEvent(cfg, "config.reload", source)
		if err == nil {
			err = gw.audit.Append(ev)
		}
		if err != nil {
			r.log.Error("config: reload not audited", "err", err)
		}
	}
	r.log.Info("config: applied", "source", source, "hash", r.applied.Hash, "revisions", r.applied.Revisions,
		"providers", len(cfg.Providers), "aliases", len(cfg.Models))
	return true
}

// cloneOverlays copies m; never nil, so edits can be applied.
func cloneOverlays(m map[string]overlay) map[string]overlay {
	out := make(map[string]overlay, len(m))
	maps.Copy(out, m)
	return out
}

// refuse logs a refused config and tells the fleet.
func (r *reloader) refuse(source string, ovs map[string]overlay, probs []string) {
	r.log.Error("config: refused; the running config stays", "source", source, "revisions", revisions(ovs),
		"problems", strings.Join(probs, "; "))
	pub := r.publish.Load()
	if pub == nil {
		return
	}
	b, err := json.Marshal(refusal{Type: "config_refused", Device: r.device, Source: source, Revisions: revisions(ovs),
		Problems: probs, Running: r.applied.Hash, At: time.Now().UTC()})
	if err == nil {
		err = (*pub)(fleet.StatusSubject(r.device), b)
	}
	if err != nil {
		r.log.Warn("config: refusal not published", "err", err)
	}
}

// baseDoc is the device's own config document: the file, or the built-in
// defaults written out as YAML when there is none.
func baseDoc(f *commonFlags, prof board.Profile) ([]byte, error) {
	if f.config != "" {
		b, err := os.ReadFile(f.config)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		return b, nil
	}
	cfg, err := loadConfig(f, prof)
	if err != nil {
		return nil, err
	}
	return yaml.Marshal(cfg)
}

// fleetOwned are top-level fields a fleet overlay may not set: the
// device's own file decides where it listens, keeps its data and finds
// its fleet, so a bad push can never cut a device off.
var fleetOwned = []string{"listen", "data_dir", "fleet"}

// mergedConfig lays ovs (in keys order) over base and parses the result
// as a start does, the --listen and --data-dir flags included.
func mergedConfig(f *commonFlags, prof board.Profile, base []byte, keys []string, ovs map[string]overlay) (*config.Config, []byte, error) {
	var (
		docs  [][]byte
		probs []error
	)
	for _, k := range keys {
		o, ok := ovs[k]
		if !ok {
			continue
		}
		var top map[string]any
		if err := yaml.Unmarshal(o.Data, &top); err == nil {
			for _, name := range fleetOwned {
				if _, ok := top[name]; ok {
					probs = append(probs, fmt.Errorf("%s: %s is the device's own (its file decides it), not the fleet's", k, name))
				}
			}
		}
		docs = append(docs, o.Data)
	}
	if len(probs) > 0 {
		return nil, nil, &config.ValidationError{Problems: probs}
	}
	doc, err := config.Merge(base, docs...)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := config.Parse(bytes.NewReader(doc), configDefaults(prof))
	if err != nil {
		return nil, nil, err
	}
	if f.listen != "" {
		cfg.Listen = f.listen
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	return cfg, doc, cfg.Validate()
}

// restartOnly lists what differs between the running config and next in
// fields that cannot change live: they belong to the listener, to files
// opened once, or to the fleet link itself. Such a config is refused as a
// whole; change those fields in the file and restart.
func restartOnly(cur, next *config.Config) []string {
	var out []string
	diff := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name+" cannot change while running (restart the gateway to change it)")
		}
	}
	diff("listen", cur.Listen, next.Listen)
	diff("data_dir", cur.DataDir, next.DataDir)
	diff("fleet", cur.Fleet, next.Fleet)
	diff("log", cur.Log, next.Log)
	diff("ledger", cur.Ledger, next.Ledger)
	diff("responses", cur.Responses, next.Responses)
	cs, ns := cur.Server, next.Server
	diff("server.max_body_bytes", cs.MaxBodyBytes, ns.MaxBodyBytes)
	diff("server.read_timeout", cs.ReadTimeout, ns.ReadTimeout)
	diff("server.write_timeout", cs.WriteTimeout, ns.WriteTimeout)
	diff("server.idle_timeout", cs.IdleTimeout, ns.IdleTimeout)
	diff("server.header_timeout", cs.HeaderTimeout, ns.HeaderTimeout)
	diff("server.max_connections", cs.MaxConnections, ns.MaxConnections)
	cc, nc := cur.Cache, next.Cache
	diff("cache.enabled", cc.On(), nc.On())
	diff("cache.max_bytes", cc.MaxBytes, nc.MaxBytes)
	diff("cache.semantic", cc.Semantic, nc.Semantic)
	// The cache is opened once, so whether it exists cannot change.
	diff("cache.mode never", cc.Mode == "never", nc.Mode == "never")
	return out
}

// problems are err's validation messages, one each.
func problems(err error) []string {
	var ve *config.ValidationError
	if errors.As(err, &ve) {
		out := make([]string, len(ve.Problems))
		for i, p := range ve.Problems {
			out[i] = p.Error()
		}
		return out
	}
	return []string{err.Error()}
}

func revisions(ovs map[string]overlay) map[string]uint64 {
	if len(ovs) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(ovs))
	for k, o := range ovs {
		out[k] = o.Revision
	}
	return out
}

func hashOf(doc []byte) string {
	s := sha256.Sum256(doc)
	return hex.EncodeToString(s[:8])
}

// docHash hashes a config as YAML (the start's, which has no merged
// document of its own).
func docHash(cfg *config.Config) string {
	b, _ := yaml.Marshal(cfg)
	return hashOf(b)
}

func loadLKG(db *bbolt.DB) (*lkgRecord, error) {
	var rec *lkgRecord
	err := db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(lkgBucket)
		if b == nil {
			return nil
		}
		v := b.Get(lkgKey)
		if v == nil {
			return nil
		}
		rec = &lkgRecord{}
		return json.Unmarshal(v, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("config: last-known-good: %w", err)
	}
	return rec, nil
}

func saveLKG(db *bbolt.DB, rec *lkgRecord) error {
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(lkgBucket)
		if err != nil {
			return err
		}
		return b.Put(lkgKey, v)
	})
}
