package upstream

import (
	"errors"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

// Helpers for providers' answer decoders built on wire.Reader. Upstreams
// send null for absent members freely, so a null object, array or string
// is read as absent, not as an error.

// Object opens the object at r's cursor; ok is false for null or an
// error. what names the value in the error for any other value.
func Object(r *wire.Reader, what string) (ok bool, err error) {
	return open(r, '{', what, " is not an object")
}

// EachObject calls f at each element of the array (or null) at r's
// cursor, with the element opened as an object. list and elem name the
// array and its elements in errors.
func EachObject(r *wire.Reader, list, elem string, f func() error) error {
	if ok, err := open(r, '[', list, " is not an array"); !ok {
		return err
	}
	var it wire.Iter
	for r.Elem(&it) {
		if r.Peek() != '{' {
			return errors.New(elem + " is not an object")
		}
		r.OpenObject()
		if err := f(); err != nil {
			return err
		}
	}
	return it.Err
}

func open(r *wire.Reader, c byte, what, not string) (bool, error) {
	if null, err := r.Null(); null || err != nil {
		return false, err
	}
	if r.Peek() != c {
		return false, errors.New(what + not)
	}
	// OpenObject and OpenArray both step over the bracket.
	r.OpenObject()
	return true, nil
}

// StrBytes reads a string or null (nil) at r's cursor. The bytes are
// valid until r moves on.
func StrBytes(r *wire.Reader) ([]byte, error) {
	if null, err := r.Null(); null || err != nil {
		return nil, err
	}
	return r.StrBytes()
}

// Reuse reads a string or null ("") at r's cursor and returns same when
// it says the same: an upstream repeats its model name in every event,
// and reusing the one string saves an allocation each time.
func Reuse(r *wire.Reader, same string) (string, error) {
	b, err := StrBytes(r)
	if err != nil {
		return "", err
	}
	if string(b) == same {
		return same, nil
	}
	return string(b), nil
}
