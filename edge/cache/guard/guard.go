package guard

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxPooledArena is the largest arena returned to the pool.
const maxPooledArena = 64 << 10

var docPool = sync.Pool{New: func() any {
	return &doc{arena: make([]byte, 0, 512), toks: make([]token, 0, 64), feats: make([]feature, 0, 64)}
}}

func getDoc() *doc { return docPool.Get().(*doc) }

func putDoc(d *doc) {
	if cap(d.arena) > maxPooledArena {
		return
	}
	d.text = ""
	docPool.Put(d)
}

// Check reports whether a cached answer to prompt a may serve prompt b:
// false, with a reason naming the rule and the words, when they differ in
// what decides the answer. It is symmetric, safe for concurrent use, does
// not allocate when it accepts, and never panics.
func Check(a, b string) (ok bool, reason string) {
	if a == b {
		return true, ""
	}
	da, db := getDoc(), getDoc()
	defer putDoc(da)
	defer putDoc(db)
	da.build(a)
	db.build(b)
	return compare(da, db)
}

// compare applies the rules in order; the first that differs gives the
// reason.
func compare(a, b *doc) (bool, string) {
	if a.overflow || b.overflow {
		return false, fmt.Sprintf("too long for the guard (over %d bytes, %d tokens or %d features)", MaxBytes, MaxTokens, MaxFeatures)
	}
	if a.hasNeg != b.hasNeg {
		if a.hasNeg {
			return false, fmt.Sprintf("negation: %q only in a", a.text[a.neg.s:a.neg.e])
		}
		return false, fmt.Sprintf("negation: %q only in b", b.text[b.neg.s:b.neg.e])
	}
	if r := numbers(a, b); r != "" {
		return false, r
	}
	for _, k := range [...]fkind{fDate, fUnit, fOp} {
		if r := sets(a, b, k); r != "" {
			return false, r
		}
	}
	if r := targets(a, b); r != "" {
		return false, r
	}
	for _, k := range [...]fkind{fQuote, fCode, fURL, fIdent} {
		if r := present(a, b, k, "a"); r != "" {
			return false, r
		}
		if r := present(b, a, k, "b"); r != "" {
			return false, r
		}
	}
	if r := entities(a, b); r != "" {
		return false, r
	}
	for _, k := range [...]fkind{fWh, fThan, fTense, fQuant} {
		if r := sets(a, b, k); r != "" {
			return false, r
		}
	}
	// "my IP" is not "your IP", but "the last commit" is "my last commit".
	if len(a.of(fPerson)) > 0 && len(b.of(fPerson)) > 0 {
		if r := sets(a, b, fPerson); r != "" {
			return false, r
		}
	}
	if r := sets(a, b, fContent); r != "" {
		return false, r
	}
	return true, ""
}

// numbers compares the numbers of a and b in order: "100 divided by 4" is
// not "4 divided by 100".
func numbers(a, b *doc) string {
	na, nb := a.of(fNumber), b.of(fNumber)
	if len(na) == len(nb) {
		i := 0
		for i < len(na) && same(a, na[i], b, nb[i]) {
			i++
		}
		if i == len(na) {
			return ""
		}
	}
	return "numbers differ: " + list(a, fNumber) + " vs " + list(b, fNumber)
}

// list formats the values of kind k for a reason: [15 % 200].
func list(d *doc, k fkind) string {
	var sb strings.Builder
	sb.WriteByte('[')
	n := 0
	for _, f := range d.of(k) {
		if n > 0 {
			sb.WriteByte(' ')
		}
		n++
		sb.WriteString(d.str(f))
		if f.unit.e > f.unit.s {
			sb.WriteString(string(d.arena[f.unit.s:f.unit.e]))
		}
	}
	sb.WriteByte(']')
	return sb.String()
}

// sets compares the values of kind k as sets.
func sets(a, b *doc, k fkind) string {
	if f, ok := missing(a, b, k); ok {
		return fmt.Sprintf("%s %q only in a", kindNames[k], a.text[f.src.s:f.src.e])
	}
	if f, ok := missing(b, a, k); ok {
		return fmt.Sprintf("%s %q only in b", kindNames[k], b.text[f.src.s:f.src.e])
	}
	return ""
}

// missing returns a feature of kind k in d that o lacks.
func missing(d, o *doc, k fkind) (feature, bool) {
	for _, f := range d.of(k) {
		if !has(o, d, f) {
			return f, true
		}
	}
	return feature{}, false
}

// has reports whether o has a feature equal to f of d.
func has(o, d *doc, f feature) bool {
	for _, g := range o.of(f.kind) {
		if same(d, f, o, g) {
			return true
		}
	}
	return false
}

// targets compares what conversions convert to. A unit after "in" ("100
// F in Celsius") is the target only when nothing else named one ("how
// many feet are in a mile" asks for feet).
func targets(a, b *doc) string {
	ka, kb := fTarget, fTarget
	if len(a.of(fTarget)) == 0 {
		ka = fTargetIn
	}
	if len(b.of(fTarget)) == 0 {
		kb = fTargetIn
	}
	for _, f := range a.of(ka) {
		if !hasKind(b, a, f, kb) {
			return fmt.Sprintf("conversion target %q only in a", a.text[f.src.s:f.src.e])
		}
	}
	for _, f := range b.of(kb) {
		if !hasKind(a, b, f, ka) {
			return fmt.Sprintf("conversion target %q only in b", b.text[f.src.s:f.src.e])
		}
	}
	return ""
}

func hasKind(o, d *doc, f feature, k fkind) bool {
	f.kind = k
	return has(o, d, f)
}

// present checks that every feature of kind k in d (quotes, code, URLs,
// identifiers) is in o: as the same kind of feature with the same text,
// or as the same text anywhere in o between word boundaries (quotes
// ignoring case), so `git stash` matches git stash and "affect" matches
// affect.
func present(d, o *doc, k fkind, which string) string {
	for _, f := range d.of(k) {
		if has(o, d, f) {
			continue
		}
		v := d.text[f.val.s:f.val.e]
		if containsBounded(o.text, v, k == fQuote) {
			continue
		}
		return fmt.Sprintf("%s %q only in %s", kindNames[k], v, which)
	}
	return ""
}

// containsBounded reports whether needle occurs in hay with no letter,
// digit or underscore right before or after it.
func containsBounded(hay, needle string, fold bool) bool {
	if needle == "" || len(needle) > len(hay) {
		return false
	}
	for i := 0; i+len(needle) <= len(hay); i++ {
		var eq bool
		if fold {
			eq = strings.EqualFold(hay[i:i+len(needle)], needle)
		} else {
			eq = hay[i:i+len(needle)] == needle
		}
		if !eq {
			continue
		}
		if i > 0 {
			if r, _ := utf8.DecodeLastRuneInString(hay[:i]); isWordRune(r) {
				continue
			}
		}
		if end := i + len(needle); end < len(hay) {
			if r, _ := utf8.DecodeRuneInString(hay[end:]); isWordRune(r) {
				continue
			}
		}
		return true
	}
	return false
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// entities checks names: every name of one prompt must be a word of the
// other (ignoring case: "France" matches "france"), and names that are
// not at a sentence start must come in the same order ("Is Python faster
// than Java" is not "Is Java faster than Python").
func entities(a, b *doc) string {
	for _, p := range [2]struct {
		d, o  *doc
		which string
	}{{a, b, "a"}, {b, a, "b"}} {
		d, o := p.d, p.o
		last := int32(0)
		ents := d.of(fEntity)
		for i, f := range ents {
			if firstEntity(d, ents, i) != i {
				continue
			}
			w := d.arena[f.val.s:f.val.e]
			if wordPosOf(o, w, 0) < 0 {
				return fmt.Sprintf("name %q only in %s", d.text[f.src.s:f.src.e], p.which)
			}
			if f.weak {
				continue
			}
			// Names must appear in o in the same order: each after the
			// one before it.
			pos := wordPosOf(o, w, last+1)
			if pos < 0 {
				return fmt.Sprintf("names in a different order (%q)", d.text[f.src.s:f.src.e])
			}
			last = pos
		}
	}
	return ""
}

// firstEntity returns the index in ents of the first entity with the
// value of ents[i].
func firstEntity(d *doc, ents []feature, i int) int {
	for j := 0; j < i; j++ {
		if same(d, ents[j], d, ents[i]) {
			return j
		}
	}
	return i
}

// wordPosOf returns the position (from 1) of the first word of d at or
// after position from whose canonical or lowercase form is w, or -1.
func wordPosOf(d *doc, w []byte, from int32) int32 {
	var pos int32
	for _, tk := range d.toks {
		if tk.kind != tWord {
			continue
		}
		pos++
		if pos < from {
			continue
		}
		if string(d.arena[tk.canon.s:tk.canon.e]) == string(w) || string(d.arena[tk.low.s:tk.low.e]) == string(w) {
			return pos
		}
	}
	return -1
}
