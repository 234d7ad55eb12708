package router

import (
	"context"
	"errors"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

// probeLoop pings a cloud upstream now and every ProbeInterval until ctx
// ends.
func (r *Router) probeLoop(ctx context.Context, u *upstream) {
	defer r.wg.Done()
	defer func() {
		// Nothing will bring it back once the probe stops, so stop
		// judging: a stopped router routes as if every upstream were up.
		u.probed.Store(false)
		u.online.Store(true)
	}()
	t := time.NewTicker(r.cfg.ProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
		err := u.pinger.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		r.setOnline(u, err == nil || !unreachable(err), err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// listLoop refreshes a Local upstream's model list now and every
// ProbeInterval until ctx ends. The list narrows which bare names go to
// the runtime; a failed refresh keeps the previous list, which is likely
// right again once the runtime is back.
func (r *Router) listLoop(ctx context.Context, u *upstream) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.ProbeInterval)
	defer t.Stop()
	for {
		r.refreshModels(ctx, u)
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Router) refreshModels(ctx context.Context, u *upstream) {
	lctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
	ms, err := u.lister.Models(lctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		r.setOnline(u, !unreachable(err), err)
		return
	}
	r.setOnline(u, true, nil)
	u.setModels(modelIDs(ms))
}

func modelIDs(ms []llm.Model) []string {
	ids := make([]string, 0, min(len(ms), maxModelsPerUpstream))
	for i := range ms {
		if i >= maxModelsPerUpstream {
			break
		}
		ids = append(ids, ms[i].ID)
	}
	return ids
}

// unreachable reports whether a probe error means the upstream cannot be
// reached. Any HTTP answer, even an error status, proves the path works.
func unreachable(err error) bool {
	var le *llm.Error
	if errors.As(err, &le) && le.Status != 0 {
		return false
	}
	switch llm.KindOf(err) {
	case llm.KindUnavailable, llm.KindTimeout, llm.KindUnknown:
		return true
	}
	return false
}

// setOnline records u's connectivity. A cloud upstream is only marked
// offline while a probe watches it, since only the probe brings it back.
func (r *Router) setOnline(u *upstream, online bool, err error) {
	if !online && !u.Local && !u.probed.Load() {
		return
	}
	if u.online.Load() == online || !u.online.CompareAndSwap(!online, online) {
		return
	}
	if online {
		r.log.Info("router: upstream online", "provider", u.Name)
		return
	}
	if err != nil {
		u.setLastError(err)
	}
	r.log.Warn("router: upstream offline", "provider", u.Name, "err", err)
}

// Reachable makes one immediate check of the named upstream, bounded by
// ProbeTimeout: llm.Pinger if it has one, else llm.ModelLister. An upstream
// with neither is assumed reachable; an unknown name is not. The result
// also updates the upstream's online state where a probe watches it.
func (r *Router) Reachable(ctx context.Context, name string) bool {
	u := r.byName[name]
	if u == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
	defer cancel()
	var err error
	switch {
	case u.pinger != nil:
		err = u.pinger.Ping(ctx)
	case u.lister != nil:
		_, err = u.lister.Models(ctx)
	default:
		return true
	}
	ok := err == nil || !unreachable(err)
	r.setOnline(u, ok, err)
	return ok
}

// Models lists the aliases (Provider AliasProvider) followed by the models
// of every upstream that implements llm.ModelLister and is not offline, as
// "provider/model". The upstreams are asked concurrently; the whole call
// takes at most ProbeTimeout, and an upstream that errs or is late is left
// out. Local model lists are refreshed on the way.
func (r *Router) Models(ctx context.Context) []llm.Model {
	out := make([]llm.Model, 0, len(r.aliasNames))
	for _, a := range r.aliasNames {
		out = append(out, llm.Model{ID: a, Provider: AliasProvider, OwnedBy: AliasProvider})
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ProbeTimeout)
	defer cancel()
	type result struct {
		i  int
		ms []llm.Model
	}
	// Buffered for every sender, so a late lister never blocks.
	ch := make(chan result, len(r.ups))
	pending := 0
	for i, u := range r.ups {
		if u.lister == nil || (!u.Local && !u.online.Load()) {
			continue
		}
		pending++
		go func() {
			ms, err := u.lister.Models(ctx)
			if err != nil {
				ms = nil
			}
			ch <- result{i, ms}
		}()
	}
	lists := make([][]llm.Model, len(r.ups))
	for pending > 0 {
		select {
		case res := <-ch:
			pending--
			lists[res.i] = res.ms
			if u := r.ups[res.i]; u.Local && res.ms != nil {
				u.setModels(modelIDs(res.ms))
			}
		case <-ctx.Done():
			pending = 0
		}
	}
	for i, u := range r.ups {
		for j, m := range lists[i] {
			if j >= maxModelsPerUpstream {
				break
			}
			owner := m.OwnedBy
			if owner == "" {
				owner = u.Name
			}
			out = append(out, llm.Model{ID: u.Name + "/" + m.ID, Provider: u.Name, OwnedBy: owner, Created: m.Created})
		}
	}
	return out
}
