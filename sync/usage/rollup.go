package usage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"time"

	"go.etcd.io/bbolt"
)

// Totals sums records.
type Totals struct {
	Requests int64 `json:"requests"`
	Errors   int64 `json:"errors"`
	// CacheHits counts requests answered from the response cache.
	CacheHits    int64 `json:"cache_hits"`
	TokensIn     int64 `json:"tokens_in"`
	TokensOut    int64 `json:"tokens_out"`
	TokensCached int64 `json:"tokens_cached"`
	// CostUSD sums the known costs; UnknownCost counts the requests whose
	// model had no price, so a report can say the sum is incomplete.
	CostUSD     float64 `json:"cost_usd"`
	UnknownCost int64   `json:"unknown_cost"`
	Estimated   int64   `json:"estimated"`
}

// nanos is the unit costs are summed in: exact for every price in the
// catalog, and 584 years of a million dollars a day before it overflows.
const nanos = 1e9

// totalsFields is how many uvarints a stored rollup holds.
const totalsFields = 9

func (t *Totals) add(r *Record) {
	t.Requests++
	if r.Outcome != "ok" {
		t.Errors++
	}
	if r.Cache == "hit" || r.Cache == "semantic" {
		t.CacheHits++
	}
	t.TokensIn += int64(r.TokensIn)
	t.TokensOut += int64(r.TokensOut)
	t.TokensCached += int64(r.TokensCached)
	if r.CostKnown {
		t.CostUSD += r.CostUSD
	} else if r.Provider != "cache" && r.Outcome == "ok" {
		t.UnknownCost++
	}
	if r.Estimated {
		t.Estimated++
	}
}

// Add adds o to t.
func (t *Totals) Add(o Totals) {
	t.Requests += o.Requests
	t.Errors += o.Errors
	t.CacheHits += o.CacheHits
	t.TokensIn += o.TokensIn
	t.TokensOut += o.TokensOut
	t.TokensCached += o.TokensCached
	t.CostUSD += o.CostUSD
	t.UnknownCost += o.UnknownCost
	t.Estimated += o.Estimated
}

func (t *Totals) encode(dst []byte) []byte {
	for _, v := range [totalsFields]uint64{uint64(t.Requests), uint64(t.Errors), uint64(t.CacheHits),
		uint64(t.TokensIn), uint64(t.TokensOut), uint64(t.TokensCached),
		uint64(math.Round(t.CostUSD * nanos)), uint64(t.UnknownCost), uint64(t.Estimated)} {
		dst = binary.AppendUvarint(dst, v)
	}
	return dst
}

var errRollup = errors.New("usage: corrupt rollup")

func (t *Totals) decode(b []byte) error {
	var f [totalsFields]uint64
	for i := range f {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return errRollup
		}
		f[i], b = v, b[n:]
	}
	*t = Totals{Requests: int64(f[0]), Errors: int64(f[1]), CacheHits: int64(f[2]),
		TokensIn: int64(f[3]), TokensOut: int64(f[4]), TokensCached: int64(f[5]),
		CostUSD: float64(f[6]) / nanos, UnknownCost: int64(f[7]), Estimated: int64(f[8])}
	return nil
}

// Group is what a rollup is kept per: an hour and who spent on what.
type Group struct {
	Hour     time.Time
	Key      string
	Team     string
	Provider string
	Model    string
}

// rollupKey is hour (8 bytes, big-endian Unix seconds) then key, team,
// provider and model separated by NUL (which none of them may hold), so
// a cursor seeks straight to a time.
func rollupKey(r *Record) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 64), uint64(r.Time.Unix()/3600*3600))
	for i, s := range [4]string{r.Key, r.Team, r.Provider, r.Model} {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, strings.ReplaceAll(s, "\x00", "")...)
	}
	return k
}

func parseRollupKey(k []byte) (Group, bool) {
	if len(k) < 8 {
		return Group{}, false
	}
	parts := bytes.Split(k[8:], []byte{0})
	if len(parts) != 4 {
		return Group{}, false
	}
	return Group{Hour: time.Unix(int64(binary.BigEndian.Uint64(k[:8])), 0).UTC(),
		Key: string(parts[0]), Team: string(parts[1]), Provider: string(parts[2]), Model: string(parts[3])}, true
}

// addRollup adds d to the rollup under k.
func addRollup(b *bbolt.Bucket, k []byte, d Totals) error {
	var t Totals
	if v := b.Get(k); v != nil {
		if err := t.decode(v); err != nil {
			return err
		}
	}
	t.Add(d)
	return b.Put(k, t.encode(make([]byte, 0, 32)))
}

// Rollups calls fn for each hourly rollup from the hour holding since on.
func (l *Ledger) Rollups(since time.Time, fn func(Group, Totals)) error {
	l.caughtUp()
	return l.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(rollupBucket).Cursor()
		start := binary.BigEndian.AppendUint64(nil, uint64(since.Unix()/3600*3600))
		for k, v := c.Seek(start); k != nil; k, v = c.Next() {
			g, ok := parseRollupKey(k)
			if !ok {
				return errRollup
			}
			var t Totals
			if err := t.decode(v); err != nil {
				return err
			}
			fn(g, t)
		}
		return nil
	})
}

// Row is one line of a usage report.
type Row struct {
	Group string `json:"group"`
	Totals
}

// Report sums the rollups from the hour holding since on, of team only
// when team is not "", by "key", "team", "model", "provider" or ""
// (everything in one row), largest cost first.
func (l *Ledger) Report(since time.Time, by, team string) ([]Row, error) {
	pick, ok := map[string]func(Group) string{
		"":         func(Group) string { return "all" },
		"key":      func(g Group) string { return g.Key },
		"team":     func(g Group) string { return g.Team },
		"model":    func(g Group) string { return g.Provider + "/" + g.Model },
		"provider": func(g Group) string { return g.Provider },
	}[by]
	if !ok {
		return nil, errors.New("usage: group by key, team, model or provider")
	}
	sums := map[string]*Totals{}
	err := l.Rollups(since, func(g Group, t Totals) {
		if team != "" && g.Team != team {
			return
		}
		name := pick(g)
		if sums[name] == nil {
			sums[name] = new(Totals)
		}
		sums[name].Add(t)
	})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(sums))
	for name, t := range sums {
		rows = append(rows, Row{Group: name, Totals: *t})
	}
	SortRows(rows)
	return rows, nil
}
