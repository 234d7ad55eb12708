package side

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/sync/usage"
)

// ByFields are what Usage groups by.
var ByFields = []string{"device", "team", "key", "model", "provider", "day"}

// maxFilteredDays is the longest span read with one key filter per day;
// a longer one reads the whole bucket and filters here.
const maxFilteredDays = 62

// Usage sums the rollups of the days from since's (UTC) on, grouped by
// by (one of ByFields), largest cost first. now is the current time.
func Usage(ctx context.Context, js jetstream.JetStream, since, now time.Time, by string) ([]usage.Row, error) {
	pick, ok := map[string]func(e *Entry, s *Sums) string{
		"device":   func(e *Entry, _ *Sums) string { return e.Device },
		"day":      func(e *Entry, _ *Sums) string { return e.Day },
		"team":     func(_ *Entry, s *Sums) string { return s.Team },
		"key":      func(_ *Entry, s *Sums) string { return s.Key },
		"model":    func(_ *Entry, s *Sums) string { return s.Provider + "/" + s.Model },
		"provider": func(_ *Entry, s *Sums) string { return s.Provider },
	}[by]
	if !ok {
		return nil, fmt.Errorf("side: group by %s, not %q", strings.Join(ByFields, ", "), by)
	}
	kv, err := js.KeyValue(ctx, RollupBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil // nothing consumed yet
	}
	if err != nil {
		return nil, fmt.Errorf("side: bucket %s: %w", RollupBucket, err)
	}
	first := since.UTC().Format(dayLayout)
	filters := []string{">"}
	if days := int(now.Sub(since).Hours()/24) + 1; days <= maxFilteredDays {
		filters = filters[:0]
		for d := since.UTC(); d.Format(dayLayout) <= now.UTC().Format(dayLayout); d = d.AddDate(0, 0, 1) {
			filters = append(filters, d.Format(dayLayout)+".*")
		}
	}
	sums := map[string]*Sums{}
	err = eachValue(ctx, kv, filters, func(key string, v []byte) error {
		if day, _, _ := strings.Cut(key, "."); day < first {
			return nil
		}
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		for i := range e.Groups {
			name := pick(e, &e.Groups[i])
			if sums[name] == nil {
				sums[name] = new(Sums)
			}
			sums[name].merge(&e.Groups[i])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rows := make([]usage.Row, 0, len(sums))
	for name, t := range sums {
		rows = append(rows, usage.Row{Group: name, Totals: t.Totals})
	}
	usage.SortRows(rows)
	return rows, nil
}

// eachValue calls fn with every current value under filters, read in one
// watch (not a get per key).
func eachValue(ctx context.Context, kv jetstream.KeyValue, filters []string, fn func(key string, v []byte) error) error {
	w, err := kv.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("side: read %s: %w", kv.Bucket(), err)
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("side: read %s: %w", kv.Bucket(), ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("side: read %s: watch closed", kv.Bucket())
			}
			if e == nil {
				return nil // the initial values are all in
			}
			if err := fn(e.Key(), e.Value()); err != nil {
				return err
			}
		}
	}
}

// Device is a device's last status as kept in DeviceBucket, read
// leniently: devices of other versions may send other fields.
type Device struct {
	Device         string    `json:"device"`
	Time           time.Time `json:"time"`
	Version        string    `json:"version,omitempty"`
	ConfigRevision string    `json:"config_revision,omitempty"`
	// Health sums the providers: "2/3 healthy", "" when not told.
	Health        string `json:"health,omitempty"`
	OutboxRecords int64  `json:"outbox_records"`
	OutboxBytes   int64  `json:"outbox_bytes"`
	// Status is the message as the device sent it (with earlier fields
	// it did not repeat).
	Status json.RawMessage `json:"status"`
}

// Devices returns every device's last status, by device id.
func Devices(ctx context.Context, js jetstream.JetStream) ([]Device, error) {
	kv, err := js.KeyValue(ctx, DeviceBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("side: bucket %s: %w", DeviceBucket, err)
	}
	var out []Device
	err = eachValue(ctx, kv, []string{">"}, func(key string, v []byte) error {
		out = append(out, parseDevice(key, v))
		return nil
	})
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.Device, b.Device) })
	return out, err
}

// parseDevice reads what it can of a status; nothing in it is required.
func parseDevice(key string, v []byte) Device {
	d := Device{Device: key, Status: json.RawMessage(v)}
	var m map[string]json.RawMessage
	if json.Unmarshal(v, &m) != nil {
		return d
	}
	_ = json.Unmarshal(m["time"], &d.Time)
	_ = json.Unmarshal(m["version"], &d.Version)
	d.ConfigRevision = scalar(m["config_revision"])
	var ob map[string]json.RawMessage
	if json.Unmarshal(m["outbox"], &ob) == nil {
		_ = json.Unmarshal(ob["records"], &d.OutboxRecords)
		_ = json.Unmarshal(ob["bytes"], &d.OutboxBytes)
	}
	d.Health = health(m["providers"])
	return d
}

// scalar shows a JSON string or number as text.
func scalar(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return n.String()
	}
	return ""
}

// health sums providers given as a list of objects or a map by name, each
// a boolean "healthy"/"reachable"/"up", a state string, or just a string.
func health(v json.RawMessage) string {
	var items []json.RawMessage
	var list []json.RawMessage
	var byName map[string]json.RawMessage
	switch {
	case json.Unmarshal(v, &list) == nil && list != nil:
		items = list
	case json.Unmarshal(v, &byName) == nil && byName != nil:
		for _, it := range byName {
			items = append(items, it)
		}
	default:
		return ""
	}
	ok := 0
	for _, it := range items {
		if healthy(it) {
			ok++
		}
	}
	return fmt.Sprintf("%d/%d healthy", ok, len(items))
}

var goodStates = []string{"ok", "healthy", "up", "reachable", "closed", "ready"}

func healthy(it json.RawMessage) bool {
	var s string
	if json.Unmarshal(it, &s) == nil {
		return slices.Contains(goodStates, strings.ToLower(s))
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(it, &m) != nil {
		return false
	}
	for _, f := range []string{"healthy", "reachable", "up", "ok"} {
		var b bool
		if json.Unmarshal(m[f], &b) == nil {
			return b
		}
	}
	for _, f := range []string{"health", "state", "status", "breaker"} {
		if json.Unmarshal(m[f], &s) == nil {
			return slices.Contains(goodStates, strings.ToLower(s))
		}
	}
	return false
}
