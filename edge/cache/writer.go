package cache

import (
	"bytes"
	"encoding/binary"
	"time"

	"go.etcd.io/bbolt"
)

type opKind uint8

const (
	opPut opKind = iota + 1
	opDelete
	opSemPut
	opBarrier
	opPurge
	opSweep
)

type deleteReason uint8

const (
	deleteExpired deleteReason = iota + 1
	deleteCorrupt
)

// op is one unit of work for the writer goroutine.
type op struct {
	kind             opKind
	reason           deleteReason
	key              Key
	entry            *Entry
	created, expires int64
	sem              *semItem
	ns, model        string
	done             chan opResult
}

type opResult struct {
	n   int
	err error
}

// post collects what a write transaction changed, applied to the counters
// and the in-memory index only once the transaction has committed.
type post struct {
	entries, bytes int64
	evicted        int
	expired        int
	// changes are the index updates, in transaction order: an insert
	// (item set) or a removal.
	changes  []idxChange
	barriers []chan opResult
}

type idxChange struct {
	key  Key
	item *semItem
}

func (p *post) reset() {
	p.entries, p.bytes, p.evicted, p.expired = 0, 0, 0, 0
	clear(p.changes)
	p.changes = p.changes[:0]
	p.barriers = p.barriers[:0]
}

// run is the writer goroutine: it owns every write transaction.
func (c *Cache) run() {
	defer close(c.done)
	tick := time.NewTicker(touchInterval)
	defer tick.Stop()
	lastSweep := time.Now()
	batch := make([]op, 0, maxBatch)
	var p post
	for {
		select {
		case o := <-c.q:
			batch = c.drain(append(batch[:0], o))
			c.process(batch, &p)
		case <-tick.C:
			c.process(nil, &p)
			if time.Since(lastSweep) >= sweepInterval {
				lastSweep = time.Now()
				c.sweep(&p)
			}
		case <-c.stop:
			c.shutdown(batch, &p)
			return
		}
	}
}

// drain adds to batch what is already queued, up to maxBatch, without
// waiting for more.
func (c *Cache) drain(batch []op) []op {
	for len(batch) < maxBatch {
		select {
		case o := <-c.q:
			batch = append(batch, o)
		default:
			return batch
		}
	}
	return batch
}

// shutdown commits what is queued, for at most closeDrain; the rest is
// dropped and its waiters told the cache closed.
func (c *Cache) shutdown(batch []op, p *post) {
	deadline := time.Now().Add(closeDrain)
	for time.Now().Before(deadline) {
		batch = c.drain(batch[:0])
		if len(batch) == 0 {
			break
		}
		c.process(batch, p)
	}
	c.process(nil, p)
	for {
		select {
		case o := <-c.q:
			if o.done != nil {
				o.done <- opResult{err: ErrClosed}
			} else if o.kind == opPut || o.kind == opSemPut {
				c.dropped.Add(1)
			}
		default:
			return
		}
	}
}

// process commits batch in order; purges and sweeps run between the
// commits of the operations queued before and after them. Eviction follows.
func (c *Cache) process(batch []op, p *post) {
	start := 0
	for i := range batch {
		switch batch[i].kind {
		case opPurge:
			c.commit(batch[start:i], p)
			n, err := c.purge(batch[i].ns, batch[i].model, p)
			batch[i].done <- opResult{n: n, err: err}
			start = i + 1
		case opSweep:
			c.commit(batch[start:i], p)
			c.sweep(p)
			if batch[i].done != nil {
				batch[i].done <- opResult{}
			}
			start = i + 1
		}
	}
	c.commit(batch[start:], p)
	c.evict(p)
	for _, d := range c.waiters {
		d <- opResult{}
	}
	clear(c.waiters)
	c.waiters = c.waiters[:0]
	clear(batch) // drop references to entries and items
}

func (c *Cache) takeTouches() []Key {
	c.touchMu.Lock()
	m := c.touches
	c.touches, c.touchSpare = c.touchSpare, m
	c.touchMu.Unlock()
	keys := c.touchKeys[:0]
	for k := range m {
		keys = append(keys, k)
	}
	clear(m)
	c.touchKeys = keys
	return keys
}

// commit applies ops, pending touches and pending semantic deletions in one
// write transaction.
func (c *Cache) commit(ops []op, p *post) {
	touches := c.takeTouches()
	if len(ops) == 0 && len(touches) == 0 && len(c.pendingSemDel) == 0 {
		return
	}
	// Encode and compress outside the transaction, which holds the
	// file's only write lock. Values live in one arena until the commit;
	// an earlier slice stays valid when append moves the arena.
	c.arena = c.arena[:0]
	c.vals = c.vals[:0]
	for i := range ops {
		var v []byte
		if ops[i].kind == opPut {
			start := len(c.arena)
			c.arena, c.body = encodeValue(c.arena, c.body, c.enc, ops[i].entry, ops[i].created, ops[i].expires)
			v = c.arena[start:len(c.arena):len(c.arena)]
		}
		c.vals = append(c.vals, v)
	}
	if cap(c.arena) > 4*maxBodyPool {
		defer func() { c.arena, c.body = nil, nil }()
	}
	now := c.now().UnixNano()
	err := c.db.Update(func(tx *bbolt.Tx) error {
		p.reset()
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		for _, k := range touches {
			if err := c.txTouch(b, k); err != nil {
				return err
			}
		}
		for i := range ops {
			o := &ops[i]
			switch o.kind {
			case opPut:
				err = c.txPut(b, o.key, c.vals[i], o.expires, p)
			case opDelete:
				err = c.txDeleteIf(b, o.key, o.reason, now, p)
			case opSemPut:
				err = c.txSemPut(b, o.sem, p)
			case opBarrier:
				p.barriers = append(p.barriers, o.done)
			}
			if err != nil {
				return err
			}
		}
		for _, k := range c.pendingSemDel {
			if err := c.txSemDelete(b, k, p); err != nil {
				return err
			}
		}
		return c.txMeta(b, p)
	})
	if err != nil {
		c.writeErrors.Add(1)
		c.log.Error("cache: write failed", "ops", len(ops), "err", err)
		for i := range ops {
			switch ops[i].kind {
			case opPut, opSemPut:
				c.dropped.Add(1)
			case opBarrier:
				ops[i].done <- opResult{err: err}
			}
		}
		return
	}
	c.pendingSemDel = c.pendingSemDel[:0]
	c.applyPost(p)
}

// published applies p if its transaction committed (err is nil), and
// otherwise counts and logs the failure of the background job op.
func (c *Cache) published(p *post, err error, op string) bool {
	if err != nil {
		c.writeErrors.Add(1)
		c.log.Error("cache: "+op+" failed", "err", err)
		return false
	}
	c.applyPost(p)
	return true
}

// applyPost publishes a committed transaction: counters, index changes and
// waiters.
func (c *Cache) applyPost(p *post) {
	c.entries.Add(p.entries)
	c.bytes.Add(p.bytes)
	c.evictions.Add(uint64(p.evicted))
	c.expired.Add(uint64(p.expired))
	if c.sem != nil {
		for _, ch := range p.changes {
			if ch.item == nil {
				c.sem.idx.remove(ch.key)
				continue
			}
			evicted, ok := c.sem.idx.insert(ch.item.vecItem)
			if !ok {
				// A vector of another dimension in the same scope:
				// the embedder changed. Keep the file in step.
				evicted = append(evicted, ch.key)
			}
			c.pendingSemDel = append(c.pendingSemDel, evicted...)
		}
	}
	// Barriers are answered by process, after eviction, so that a Flush
	// sees the cache within its bound.
	c.waiters = append(c.waiters, p.barriers...)
}

func (c *Cache) txMeta(b buckets, p *post) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(max(0, c.entries.Load()+p.entries)))
	if err := b.meta.Put(metaEntries, bytes.Clone(buf[:])); err != nil {
		return err
	}
	binary.BigEndian.PutUint64(buf[:], uint64(max(0, c.bytes.Load()+p.bytes)))
	return b.meta.Put(metaBytes, bytes.Clone(buf[:]))
}

// stampKey is an lru or exp row key: an 8-byte big-endian ordinal (an
// access sequence number or an expiry time) then the entry key, so a cursor
// walks rows oldest first.
func stampKey(stamp uint64, key Key) []byte {
	k := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(k, stamp)
	copy(k[8:], key[:])
	return k
}

func expStamp(expires int64) uint64 { return uint64(max(0, expires)) }

// txTouch moves key to the most recently used end of the lru index.
func (c *Cache) txTouch(b buckets, key Key) error {
	old := b.atime.Get(key[:])
	if len(old) != 8 {
		return nil // deleted since the hit
	}
	if err := b.lru.Delete(stampKey(binary.BigEndian.Uint64(old), key)); err != nil {
		return err
	}
	return c.txStamp(b, key)
}

func (c *Cache) txStamp(b buckets, key Key) error {
	seq, err := b.lru.NextSequence()
	if err != nil {
		return err
	}
	if err := b.lru.Put(stampKey(seq, key), nil); err != nil {
		return err
	}
	return b.atime.Put(bytes.Clone(key[:]), binary.BigEndian.AppendUint64(nil, seq))
}

func (c *Cache) txPut(b buckets, key Key, val []byte, expires int64, p *post) error {
	if old := b.entries.Get(key[:]); old != nil {
		if err := c.txUnindex(b, key, old); err != nil {
			return err
		}
		p.bytes -= int64(len(old) + entryOverhead)
		p.entries--
	}
	// bbolt keeps the key slice until commit: give it its own copy.
	if err := b.entries.Put(bytes.Clone(key[:]), val); err != nil {
		return err
	}
	if err := b.exp.Put(stampKey(expStamp(expires), key), nil); err != nil {
		return err
	}
	p.bytes += int64(len(val) + entryOverhead)
	p.entries++
	return c.txStamp(b, key)
}

// txUnindex removes the lru, atime and exp rows of an entry whose stored
// value is v.
func (c *Cache) txUnindex(b buckets, key Key, v []byte) error {
	if old := b.atime.Get(key[:]); len(old) == 8 {
		if err := b.lru.Delete(stampKey(binary.BigEndian.Uint64(old), key)); err != nil {
			return err
		}
	}
	if err := b.atime.Delete(key[:]); err != nil {
		return err
	}
	if h, err := parseHeader(v); err == nil {
		// A corrupt header leaves its exp row behind; sweep drops it.
		return b.exp.Delete(stampKey(expStamp(h.expires), key))
	}
	return nil
}

// txDelete deletes the entry under key with its index rows and semantic
// record, and reports whether there was one.
func (c *Cache) txDelete(b buckets, key Key, p *post) (bool, error) {
	v := b.entries.Get(key[:])
	if v == nil {
		return false, c.txSemDelete(b, key, p)
	}
	p.bytes -= int64(len(v) + entryOverhead)
	p.entries--
	if err := c.txUnindex(b, key, v); err != nil {
		return false, err
	}
	if err := b.entries.Delete(key[:]); err != nil {
		return false, err
	}
	return true, c.txSemDelete(b, key, p)
}

// txDeleteIf deletes key if the reason still holds: the entry may have been
// replaced by a fresh Put since the reader saw it.
func (c *Cache) txDeleteIf(b buckets, key Key, reason deleteReason, now int64, p *post) error {
	v := b.entries.Get(key[:])
	if v == nil {
		return nil
	}
	h, err := parseHeader(v)
	switch reason {
	case deleteExpired:
		if err != nil || h.expires > now {
			return nil
		}
	case deleteCorrupt:
		if err == nil {
			bp := bodyPool.Get().(*[]byte)
			_, *bp, err = decodeValue(v, h, c.dec, c.o.MaxEntryBytes, *bp)
			bodyPool.Put(bp)
			if err == nil {
				return nil
			}
		}
	}
	_, err = c.txDelete(b, key, p)
	return err
}

// txSemPut stores a semantic record, only while its exact entry exists:
// the record is useless without it, and deleting an entry deletes its
// record, so no orphan ever stays behind.
func (c *Cache) txSemPut(b buckets, it *semItem, p *post) error {
	if b.entries.Get(it.key[:]) == nil {
		return nil
	}
	if err := c.txSemDelete(b, it.key, p); err != nil {
		return err
	}
	idx, vec := it.encode()
	if err := b.semIdx.Put(bytes.Clone(it.key[:]), idx); err != nil {
		return err
	}
	if err := b.semVec.Put(bytes.Clone(it.key[:]), vec); err != nil {
		return err
	}
	p.bytes += int64(len(idx) + len(vec) + semOverhead)
	// txSemDelete queued a removal of the old vector; the insert after it
	// replaces it.
	p.changes = append(p.changes, idxChange{key: it.key, item: it})
	return nil
}

func (c *Cache) txSemDelete(b buckets, key Key, p *post) error {
	iv, vv := b.semIdx.Get(key[:]), b.semVec.Get(key[:])
	if iv == nil && vv == nil {
		return nil
	}
	p.bytes -= int64(len(iv) + len(vv) + semOverhead)
	p.changes = append(p.changes, idxChange{key: key})
	if err := b.semIdx.Delete(key[:]); err != nil {
		return err
	}
	return b.semVec.Delete(key[:])
}

// evict deletes least recently used entries while the stored bytes exceed
// MaxBytes, down to 90% of it so eviction runs in batches rather than on
// every put, at most evictBatch per transaction.
func (c *Cache) evict(p *post) {
	target := c.o.MaxBytes / 10 * 9
	for c.bytes.Load() > c.o.MaxBytes {
		var progress bool
		err := c.db.Update(func(tx *bbolt.Tx) error {
			p.reset()
			progress = false
			b, err := openBuckets(tx)
			if err != nil {
				return err
			}
			var victims, stale [][]byte
			freed := int64(0)
			cur := b.lru.Cursor()
			for k, _ := cur.First(); k != nil && len(victims) < evictBatch; k, _ = cur.Next() {
				if c.bytes.Load()-freed <= target {
					break
				}
				v := b.entries.Get(k[8:])
				if v == nil || len(k) != 8+len(Key{}) {
					stale = append(stale, bytes.Clone(k))
					continue
				}
				freed += int64(len(v) + entryOverhead)
				if sv := b.semVec.Get(k[8:]); sv != nil {
					freed += int64(len(sv) + len(b.semIdx.Get(k[8:])) + semOverhead)
				}
				victims = append(victims, bytes.Clone(k))
			}
			for _, k := range stale {
				if err := b.lru.Delete(k); err != nil {
					return err
				}
			}
			for _, k := range victims {
				if _, err := c.txDelete(b, Key(k[8:]), p); err != nil {
					return err
				}
				p.evicted++
			}
			progress = len(victims)+len(stale) > 0
			return c.txMeta(b, p)
		})
		if !c.published(p, err, "evict") {
			return
		}
		if !progress {
			c.recount(p)
			return
		}
	}
}

// recount recomputes the entry and byte counters from the file. It only
// runs when the counters claim more bytes than there are entries to evict,
// which would be a bookkeeping bug; the cache heals instead of spinning.
func (c *Cache) recount(p *post) {
	var n, size int64
	err := c.db.Update(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		err = b.entries.ForEach(func(_, v []byte) error {
			n++
			size += int64(len(v) + entryOverhead)
			return nil
		})
		if err != nil {
			return err
		}
		err = b.semIdx.ForEach(func(k, v []byte) error {
			size += int64(len(v) + len(b.semVec.Get(k)) + semOverhead)
			return nil
		})
		if err != nil {
			return err
		}
		p.reset()
		p.entries, p.bytes = n-c.entries.Load(), size-c.bytes.Load()
		return c.txMeta(b, p)
	})
	if err != nil {
		c.writeErrors.Add(1)
		return
	}
	c.log.Warn("cache: counters recomputed", "entries", n, "bytes", size, "was_entries", c.entries.Load(), "was_bytes", c.bytes.Load())
	c.applyPost(p)
}

// sweep deletes entries whose TTL has passed, walking the exp index from
// the oldest expiry, at most sweepBatch per transaction.
func (c *Cache) sweep(p *post) {
	now := expStamp(c.now().UnixNano())
	for {
		var rows int
		err := c.db.Update(func(tx *bbolt.Tx) error {
			p.reset()
			rows = 0
			b, err := openBuckets(tx)
			if err != nil {
				return err
			}
			var found [][]byte
			cur := b.exp.Cursor()
			for k, _ := cur.First(); k != nil && len(found) < sweepBatch; k, _ = cur.Next() {
				if len(k) < 8 || binary.BigEndian.Uint64(k) > now {
					break
				}
				found = append(found, bytes.Clone(k))
			}
			rows = len(found)
			for _, k := range found {
				if err := b.exp.Delete(k); err != nil {
					return err
				}
				if len(k) != 8+len(Key{}) {
					continue
				}
				key := Key(k[8:])
				v := b.entries.Get(key[:])
				if v == nil {
					continue
				}
				if h, err := parseHeader(v); err == nil && expStamp(h.expires) != binary.BigEndian.Uint64(k) {
					continue // stale row of an entry since replaced
				}
				if _, err := c.txDelete(b, key, p); err != nil {
					return err
				}
				p.expired++
			}
			return c.txMeta(b, p)
		})
		if !c.published(p, err, "sweep") {
			return
		}
		if rows < sweepBatch {
			return
		}
	}
}

// purge deletes the entries matching ns and model (see Purge), scanning the
// entries bucket in transactions of at most purgeBatch deletions.
func (c *Cache) purge(ns, model string, p *post) (int, error) {
	total := 0
	var after []byte
	for {
		var (
			found [][]byte
			last  []byte
			end   bool
		)
		err := c.db.Update(func(tx *bbolt.Tx) error {
			p.reset()
			found, last, end = found[:0], nil, true
			b, err := openBuckets(tx)
			if err != nil {
				return err
			}
			cur := b.entries.Cursor()
			k, v := cur.First()
			if after != nil {
				k, v = cur.Seek(after)
				if k != nil && bytes.Equal(k, after) {
					k, v = cur.Next()
				}
			}
			for ; k != nil; k, v = cur.Next() {
				if len(found) == purgeBatch {
					end = false
					break
				}
				last = k
				if matches(v, ns, model) {
					found = append(found, bytes.Clone(k))
				}
			}
			last = bytes.Clone(last)
			for _, k := range found {
				if len(k) != len(Key{}) {
					if err := b.entries.Delete(k); err != nil {
						return err
					}
					continue
				}
				if _, err := c.txDelete(b, Key(k), p); err != nil {
					return err
				}
			}
			return c.txMeta(b, p)
		})
		if err != nil {
			c.writeErrors.Add(1)
			return total, err
		}
		c.applyPost(p)
		total += len(found)
		if end || last == nil {
			return total, nil
		}
		after = last
	}
}

func matches(v []byte, ns, model string) bool {
	h, err := parseHeader(v)
	if err != nil {
		return ns == "" && model == "" // purge-all takes corrupt values too
	}
	if ns != "" && string(h.ns) != ns {
		return false
	}
	if model == "" || string(h.reqModel) == model || string(h.model) == model {
		return true
	}
	// "provider/model"
	return len(model) == len(h.provider)+1+len(h.model) && model[len(h.provider)] == '/' &&
		model[:len(h.provider)] == string(h.provider) && model[len(h.provider)+1:] == string(h.model)
}
