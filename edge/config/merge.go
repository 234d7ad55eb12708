package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// Merge lays overlays over base, in order, and returns one YAML document
// for Parse, so pushed config is held to exactly the file's rules (unknown
// fields, defaults, validation). The rules:
//
//   - a mapping merges key by key, recursively; a key of a later document
//     wins over the same key of an earlier one;
//   - anything else (a list, a scalar) replaces the earlier value whole: a
//     list is an ordered choice (providers, a model's targets) that an
//     element-wise merge would garble;
//   - a key set to null removes it (so an overlay can drop a model alias);
//   - an empty document adds nothing.
//
// Each document must be a mapping at the top, at most maxConfigBytes. The
// output loses comments and key order, which Parse does not need.
func Merge(base []byte, overlays ...[]byte) ([]byte, error) {
	docs := append([][]byte{base}, overlays...)
	var out map[string]any
	for i, d := range docs {
		m, err := decodeMapping(d)
		if err != nil {
			if i == 0 {
				return nil, fmt.Errorf("config: merge: base: %w", err)
			}
			return nil, fmt.Errorf("config: merge: overlay %d: %w", i, err)
		}
		out = mergeMaps(out, m)
	}
	if out == nil {
		out = map[string]any{}
	}
	b, err := yaml.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("config: merge: %w", err)
	}
	return b, nil
}

// decodeMapping reads one YAML document that must be a mapping (or empty).
func decodeMapping(d []byte) (map[string]any, error) {
	if len(d) > maxConfigBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxConfigBytes)
	}
	var v any
	if err := yaml.NewDecoder(bytes.NewReader(d)).Decode(&v); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	switch m := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return m, nil
	}
	return nil, fmt.Errorf("the document is a %T, not a mapping of config fields", v)
}

// mergeMaps lays over onto base (both may be nil) and returns the result;
// base is modified.
func mergeMaps(base, over map[string]any) map[string]any {
	if base == nil {
		base = map[string]any{}
	}
	for k, v := range over {
		if v == nil {
			delete(base, k)
			continue
		}
		if om, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				base[k] = mergeMaps(bm, om)
				continue
			}
			// A mapping over a scalar or list replaces it; nested nulls
			// still mean "absent".
			base[k] = mergeMaps(nil, om)
			continue
		}
		base[k] = v
	}
	return base
}
