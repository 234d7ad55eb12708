package side

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/edgeway/edgeway/sync/usage"
)

// Names of what the fleet side keeps in JetStream; README lists them.
const (
	// RollupBucket holds one Entry per (day, device), key "<day>.<device>".
	RollupBucket = "edgeway_rollups"
	// DeviceBucket holds each device's last status, key "<device>".
	DeviceBucket = "edgeway_devices"
	// Durable is the pull consumer on EDGEWAY_USAGE all replicas share.
	Durable = "edgeway-fleet-rollups"
	// StatusQueue is the queue group replicas read status messages in, so
	// each message is written once.
	StatusQueue = "edgeway-fleet"
)

// dayLayout names a day in rollup keys (UTC).
const dayLayout = "2006-01-02"

// maxRanges bounds an entry's set of counted sequence numbers. A device
// day that reaches it is not counted further (its messages wait,
// unacked, and the log says why) rather than counted twice.
const maxRanges = 1 << 14

// errTooManyRanges is returned when an entry's set would pass maxRanges.
var errTooManyRanges = errors.New("side: rollup entry holds too many sequence ranges")

// RollupKey is the rollup entry key of device's records of day.
func RollupKey(day time.Time, device string) string {
	return day.UTC().Format(dayLayout) + "." + device
}

// Entry is one device's usage of one day. Its JSON is what the bucket
// holds, readable with `nats kv get`.
type Entry struct {
	Device string `json:"device"`
	Day    string `json:"day"`
	// Applied are the device's record sequence numbers counted here, as
	// sorted, disjoint, non-adjacent [first, last] ranges.
	Applied [][2]uint64 `json:"applied"`
	Groups  []Sums      `json:"groups"`
}

// Sums are the totals of one team, key, provider and model. CostNanos
// is the cost in nanodollars, exact whatever order replicas add in; the
// Totals' CostUSD is kept from it for readers of the raw entry.
type Sums struct {
	Team     string `json:"team,omitempty"`
	Key      string `json:"key,omitempty"`
	Provider string `json:"provider,omitempty"`
	Model    string `json:"model,omitempty"`
	usage.Totals
	CostNanos int64 `json:"cost_nanousd"`
}

const nanos = 1e9

func (s *Sums) add(t usage.Totals) {
	s.Totals.Add(t)
	s.CostNanos += int64(math.Round(t.CostUSD * nanos))
	s.CostUSD = float64(s.CostNanos) / nanos
}

// merge adds o to s, cost in nanodollars.
func (s *Sums) merge(o *Sums) {
	s.Totals.Add(o.Totals)
	s.CostNanos += o.CostNanos
	s.CostUSD = float64(s.CostNanos) / nanos
}

// has reports whether seq is counted in e.
func (e *Entry) has(seq uint64) bool {
	i, _ := slices.BinarySearchFunc(e.Applied, seq, func(r [2]uint64, s uint64) int {
		switch {
		case r[1] < s:
			return -1
		case r[0] > s:
			return 1
		}
		return 0
	})
	return i < len(e.Applied) && e.Applied[i][0] <= seq && seq <= e.Applied[i][1]
}

// mark adds seq, not yet in e, to the counted set, merging neighbours.
func (e *Entry) mark(seq uint64) error {
	i, _ := slices.BinarySearchFunc(e.Applied, seq, func(r [2]uint64, s uint64) int {
		if r[1] < s {
			return -1
		}
		return 1
	})
	// i is the first range after seq.
	joinPrev := i > 0 && e.Applied[i-1][1]+1 == seq
	joinNext := i < len(e.Applied) && e.Applied[i][0] == seq+1
	switch {
	case joinPrev && joinNext:
		e.Applied[i-1][1] = e.Applied[i][1]
		e.Applied = slices.Delete(e.Applied, i, i+1)
	case joinPrev:
		e.Applied[i-1][1] = seq
	case joinNext:
		e.Applied[i][0] = seq
	default:
		if len(e.Applied) >= maxRanges {
			return fmt.Errorf("%w (%d) for %s on %s", errTooManyRanges, maxRanges, e.Device, e.Day)
		}
		e.Applied = slices.Insert(e.Applied, i, [2]uint64{seq, seq})
	}
	return nil
}

// record is one usage message, decoded.
type record struct {
	seq uint64
	r   usage.Record
}

// apply counts the records of recs that e has not counted yet, and
// reports whether it changed.
func (e *Entry) apply(recs []record) (bool, error) {
	changed := false
	for i := range recs {
		rc := &recs[i]
		if e.has(rc.seq) {
			continue
		}
		if err := e.mark(rc.seq); err != nil {
			return changed, err
		}
		r := &rc.r
		j := slices.IndexFunc(e.Groups, func(s Sums) bool {
			return s.Team == r.Team && s.Key == r.Key && s.Provider == r.Provider && s.Model == r.Model
		})
		if j < 0 {
			e.Groups = append(e.Groups, Sums{Team: r.Team, Key: r.Key, Provider: r.Provider, Model: r.Model})
			j = len(e.Groups) - 1
		}
		e.Groups[j].add(r.Totals())
		changed = true
	}
	return changed, nil
}

func decodeEntry(b []byte) (*Entry, error) {
	e := new(Entry)
	if err := json.Unmarshal(b, e); err != nil {
		return nil, fmt.Errorf("side: rollup entry: %w", err)
	}
	return e, nil
}
