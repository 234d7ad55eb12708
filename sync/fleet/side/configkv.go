package side

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeway/edgeway/edge/config"
	"github.com/edgeway/edgeway/sync/fleet"
)

// ConfigHistory is how many revisions of each config key the bucket
// keeps (JetStream KV's most).
const ConfigHistory = 64

// CheckOverlay validates a config overlay before it is pushed. Its YAML
// must always fit the config schema (known fields, right types, within
// the size bound). Unless schemaOnly, it must also pass config.Parse on
// its own, i.e. as merged over an empty file; schemaOnly is for an
// overlay that leans on each device's own file (a model naming a
// provider only the file defines): the device then validates the merged
// config itself and refuses a bad one, keeping its last good config.
func CheckOverlay(data []byte, schemaOnly bool) error {
	_, err := config.Parse(bytes.NewReader(data), config.Defaults{})
	if ve := (*config.ValidationError)(nil); errors.As(err, &ve) && schemaOnly {
		return nil
	}
	return err
}

// ConfigKV opens the config bucket, creating it when create is set.
func ConfigKV(ctx context.Context, js jetstream.JetStream, create bool) (jetstream.KeyValue, error) {
	if !create {
		kv, err := js.KeyValue(ctx, fleet.ConfigBucket)
		if err != nil {
			return nil, fmt.Errorf("side: bucket %s: %w", fleet.ConfigBucket, err)
		}
		return kv, nil
	}
	return ensureBucket(ctx, js, jetstream.KeyValueConfig{Bucket: fleet.ConfigBucket,
		Description: "edgeway config overlays: global, group.<name>, device.<id>", History: ConfigHistory})
}

// Revision is one revision of a config key.
type Revision struct {
	Key      string    `json:"key"`
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	// Op is "put" or "delete".
	Op    string `json:"op"`
	Bytes int    `json:"bytes"`
	Value string `json:"value,omitempty"`
}

// ConfigHistoryOf lists key's kept revisions, oldest first.
func ConfigHistoryOf(ctx context.Context, kv jetstream.KeyValue, key string) ([]Revision, error) {
	es, err := kv.History(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("side: history of %s: %w", key, err)
	}
	out := make([]Revision, 0, len(es))
	for _, e := range es {
		op := "put"
		if e.Operation() != jetstream.KeyValuePut {
			op = "delete"
		}
		out = append(out, Revision{Key: key, Revision: e.Revision(), Time: e.Created().UTC(), Op: op, Bytes: len(e.Value()), Value: string(e.Value())})
	}
	return out, nil
}
