package usage

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"
)

// heldKey keeps the outbox's hold mark (see Hold) across restarts.
var heldKey = []byte("held")

// Hold marks the records up to sequence number through (by key) as
// handed to the fleet sync: fold never folds them. The mark only rises
// and is stored before Hold returns, so after a crash between a publish
// and its removal the records the stream may already hold are still
// whole records, never part of a fold record whose range would straddle
// the stream's last sequence number (which resync could then neither
// drop nor send without a loss or a double).
func (l *Ledger) Hold(through uint64) error {
	if through <= l.held.Load() {
		return nil
	}
	err := l.db.Update(func(tx *bbolt.Tx) error {
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], through)
		return tx.Bucket(metaBucket).Put(heldKey, k[:])
	})
	if err != nil {
		return fmt.Errorf("usage: hold through %d: %w", through, err)
	}
	l.held.Store(through)
	return nil
}

// Remove deletes the outbox's records whose key is at most through: the
// fleet acknowledged them. A fold record goes when its key (its first
// folded record) is at most through; the fleet sync removes through a
// fold record's LastSeq, which holds nothing else.
func (l *Ledger) Remove(through uint64) error {
	var freed int64
	err := l.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(outboxBucket).Cursor()
		for k, v := c.First(); k != nil && binary.BigEndian.Uint64(k) <= through; k, v = c.First() {
			freed += int64(len(v))
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage: remove through %d: %w", through, err)
	}
	l.bytes.Add(-freed)
	return nil
}

// Appended is the last sequence number handed out, without waiting for
// the database: a cheap check whether there is anything new to read.
func (l *Ledger) Appended() uint64 {
	l.amu.Lock()
	defer l.amu.Unlock()
	return l.written
}
