package upstream

import (
	"strconv"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

// Helpers for request bodies: the pieces every provider's JSON writes
// alike. Members after the first start with a comma.

// AppendKey appends `,"name":`.
func AppendKey(dst []byte, name string) []byte {
	dst = append(dst, `,"`...)
	dst = append(dst, name...)
	return append(dst, `":`...)
}

// AppendFloatField appends `,"name":v` when v is set.
func AppendFloatField(dst []byte, name string, v *float64) []byte {
	if v == nil {
		return dst
	}
	return wire.AppendFloat(AppendKey(dst, name), *v, 64)
}

// AppendIntField appends `,"name":v` when v is set.
func AppendIntField[T int | int64](dst []byte, name string, v *T) []byte {
	if v == nil {
		return dst
	}
	return strconv.AppendInt(AppendKey(dst, name), int64(*v), 10)
}

// AppendBoolField appends `,"name":v` when v is set.
func AppendBoolField(dst []byte, name string, v *bool) []byte {
	if v == nil {
		return dst
	}
	return strconv.AppendBool(AppendKey(dst, name), *v)
}

// AppendStrings appends ss as a JSON array.
func AppendStrings(dst []byte, ss []string) []byte {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = wire.AppendString(dst, s)
	}
	return append(dst, ']')
}

// AppendNamed appends `"name":name` and, when description is set,
// `,"description":description`: how every provider declares a tool or a
// schema.
func AppendNamed(dst []byte, name, description string) []byte {
	dst = append(dst, `"name":`...)
	dst = wire.AppendString(dst, name)
	if description != "" {
		dst = append(dst, `,"description":`...)
		dst = wire.AppendString(dst, description)
	}
	return dst
}
