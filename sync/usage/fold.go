package usage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	"go.etcd.io/bbolt"
)

// fold shrinks the outbox to at most target bytes when the fleet has not
// drained it for long: the oldest records are replaced by one rollup
// record per hour, key, team, provider and model, keyed by the first
// folded record's sequence number, so the outbox stays ordered and the
// fleet still receives every request's tokens and cost, only summed.
// Nothing is dropped; the hourly rollups that reports read are not
// touched, since they already hold these records. Fold records fold
// again with their neighbours when the outbox is still over its bound.
func (l *Ledger) fold(target int64) error {
	const foldSize = 400
	var folded, freed, added int64
	var nfolds int
	err := l.db.Update(func(tx *bbolt.Tx) error {
		out := tx.Bucket(outboxBucket)
		type group struct {
			first *Record
			t     Totals
		}
		groups := map[string]*group{}
		var order []string
		var dead [][]byte
		c := out.Cursor()
		// Records the fleet sync holds stay whole (see Hold).
		var from [8]byte
		binary.BigEndian.PutUint64(from[:], l.held.Load()+1)
		// Each group becomes a record of about foldSize bytes.
		for k, v := c.Seek(from[:]); k != nil && l.bytes.Load()-freed+int64(len(order))*foldSize > target; k, v = c.Next() {
			r := new(Record)
			if err := json.Unmarshal(v, r); err != nil {
				return fmt.Errorf("usage: record %d: %w", binary.BigEndian.Uint64(k), err)
			}
			g := groups[string(rollupKey(r))]
			if g == nil {
				g = &group{first: r}
				groups[string(rollupKey(r))] = g
				order = append(order, string(rollupKey(r)))
			}
			if r.Rollup != nil {
				g.t.Add(*r.Rollup)
			} else {
				g.t.add(r)
				folded++
			}
			last := r.Seq
			if r.LastSeq > last {
				last = r.LastSeq
			}
			g.first.LastSeq = last
			dead = append(dead, k)
			freed += int64(len(v))
		}
		for _, k := range dead {
			if err := out.Delete(k); err != nil {
				return err
			}
		}
		var k [8]byte
		for _, name := range order {
			g := groups[name]
			first := g.first
			t := g.t
			hour := first.Time.Truncate(3600e9)
			f := &Record{Seq: first.Seq, LastSeq: first.LastSeq, Time: hour.UTC(),
				ID:  "fold-" + strconv.FormatUint(first.Seq, 10) + "-" + strconv.FormatUint(first.LastSeq, 10) + "-" + strconv.FormatInt(t.Requests, 10),
				Key: first.Key, Team: first.Team, Provider: first.Provider, Model: first.Model,
				Outcome: "rollup", Rollup: &t}
			v, err := json.Marshal(f)
			if err != nil {
				return err
			}
			binary.BigEndian.PutUint64(k[:], f.Seq)
			if err := out.Put(k[:], v); err != nil {
				return err
			}
			added += int64(len(v))
		}
		nfolds = len(order)
		binary.BigEndian.PutUint64(k[:], uint64(l.folded.Load()+folded))
		return tx.Bucket(metaBucket).Put(foldedKey, k[:])
	})
	if err != nil {
		return fmt.Errorf("usage: fold the outbox: %w", err)
	}
	l.bytes.Add(added - freed)
	l.folded.Add(folded)
	l.log.Warn("usage ledger: the outbox reached its bound; the oldest records were folded into hourly rollups",
		"records", folded, "rollups", nfolds, "bytes", l.bytes.Load(), "max_bytes", l.opts.MaxBytes)
	return nil
}
