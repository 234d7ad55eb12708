package pii

import (
	"strconv"
	"strings"
)

// Placeholders are «KIND_N»: the guillemets are rare in prompts and
// answers, survive JSON and every tokenizer, and models copy them through
// intact.
const (
	open  = "«"
	close = "»"
	// maxPlaceholder bounds a placeholder's length, so a stream holds back
	// at most this much while waiting for one to complete.
	maxPlaceholder = len(open) + len("SECRET") + 1 + 6 + len(close)
)

// Mapping pairs each redacted value of one request with its placeholder.
// Equal values share a placeholder, so the model can still tell that two
// mentions are the same person. It is not safe for concurrent use.
type Mapping struct {
	toValue map[string]string // placeholder → value
	toPH    map[string]string // value → placeholder
	n       [numKinds]int
	found   []Finding // scratch
}

// Len returns how many distinct values were redacted.
func (m *Mapping) Len() int { return len(m.toValue) }

// Redact returns s with every finding replaced by its placeholder, and
// whether it changed anything. A string without findings is returned as
// is, without allocating.
func (m *Mapping) Redact(s string) (string, bool) {
	m.found = Scan(m.found[:0], s)
	if len(m.found) == 0 {
		return s, false
	}
	if m.toValue == nil {
		m.toValue, m.toPH = map[string]string{}, map[string]string{}
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, f := range m.found {
		v := s[f.Start:f.End]
		ph, ok := m.toPH[v]
		if !ok {
			m.n[f.Kind]++
			ph = open + tags[f.Kind] + "_" + strconv.Itoa(m.n[f.Kind]) + close
			m.toPH[v], m.toValue[ph] = ph, v
		}
		b.WriteString(s[last:f.Start])
		b.WriteString(ph)
		last = f.End
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// Restore returns s with every known placeholder replaced by its value;
// s itself when it holds none.
func (m *Mapping) Restore(s string) string {
	if len(m.toValue) == 0 || !strings.Contains(s, open) {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], open)
		if k < 0 {
			break
		}
		i += k
		e := strings.Index(s[i:min(len(s), i+maxPlaceholder)], close)
		if e < 0 {
			i += len(open)
			continue
		}
		ph := s[i : i+e+len(close)]
		v, ok := m.toValue[ph]
		if !ok {
			i += len(open)
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:i])
		b.WriteString(v)
		i += len(ph)
		last = i
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// restorer restores placeholders in a stream of text deltas, where a
// placeholder may be split across deltas: it holds back only a tail that
// may still become one (from an unclosed «, at most maxPlaceholder bytes).
type restorer struct {
	m    *Mapping
	held string
}

// feed takes the next delta and returns what can be emitted now.
func (r *restorer) feed(s string) string {
	if r.held == "" && !strings.Contains(s, open) && !strings.HasSuffix(s, open[:1]) {
		return s // the common case: nothing to restore, nothing held
	}
	buf := r.held + s
	r.held = ""
	cut := len(buf)
	if k := strings.LastIndex(buf, open); k >= 0 && !strings.Contains(buf[k:], close) && len(buf)-k < maxPlaceholder {
		cut = k
	} else if strings.HasSuffix(buf, open[:1]) {
		cut = len(buf) - 1 // the first byte of a «
	}
	r.held = buf[cut:]
	return r.m.Restore(buf[:cut])
}

// flush returns what is held, at the end of the stream.
func (r *restorer) flush() string {
	s := r.m.Restore(r.held)
	r.held = ""
	return s
}
