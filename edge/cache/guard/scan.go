package guard

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// span is a byte range, in a doc's arena or its text depending on use.
type span struct{ s, e int32 }

// fkind is the kind of a feature: what rule compares it.
type fkind uint8

const (
	fNumber   fkind = iota // numbers, ordinals, times, in order: val and unit (arena)
	fDate                  // months, weekdays, relative days, seasons, full dates (arena)
	fUnit                  // every unit mentioned (arena)
	fTarget                // a conversion's target: "to X", "how many X" (arena)
	fTargetIn              // "in X" with X a unit: the target when there is no other (arena)
	fOp                    // arithmetic operators, in prompts with numbers (arena)
	fQuote                 // quoted text (text)
	fCode                  // backtick spans (text)
	fURL                   // URLs, emails, paths (text)
	fIdent                 // identifiers: snake_case, dotted.names, calls(), C++ (text)
	fEntity                // capitalised and camelCase words (arena: content canonical)
	fWh                    // who, when, where, why (arena)
	fThan                  // the word after "than" (arena)
	fTense                 // past or future (arena)
	fPerson                // my/your, he/she/they (arena)
	fQuant                 // all, some, few, both (arena)
	fContent               // every other meaningful word, stemmed (arena)
	numKinds
)

var kindNames = [...]string{
	fNumber: "number", fDate: "date", fUnit: "unit", fTarget: "conversion target",
	fTargetIn: "conversion target", fOp: "operator", fQuote: "quoted text", fCode: "code",
	fURL: "URL or path", fIdent: "identifier", fEntity: "name", fWh: "question word",
	fThan: "compared object", fTense: "tense", fPerson: "person", fQuant: "quantifier",
	fContent: "word",
}

// feature is one thing that decides an answer.
type feature struct {
	kind fkind
	val  span   // canonical value (arena, or text for quote/code/url/ident)
	unit span   // numbers: canonical unit (arena), empty when none
	src  span   // where it is in the text, for reasons
	weak bool   // entities: a capitalised word at the start of a sentence
	h    uint64 // hash of val and unit, to compare quickly
}

func (f feature) inText() bool {
	return f.kind == fQuote || f.kind == fCode || f.kind == fURL || f.kind == fIdent
}

type tkind uint8

const (
	tWord tkind = iota
	tNum
	tSym
)

// Token flags.
const (
	tfCap      uint16 = 1 << iota // first letter upper case
	tfInnerCap                    // an upper-case letter after the first (camelCase)
	tfAllCaps                     // two or more letters, all upper case
	tfStart                       // first word of a sentence
	tfNeg                         // a word with n't
	tfDate                        // a number written as a full date (2024-03-15)
	tfUsed                        // consumed by a number or a conversion
	tfKnown                       // the word is in the lexicon
)

// token is a word, a number or a symbol of a prompt.
type token struct {
	kind  tkind
	flags uint16
	sym   rune
	s, e  int32 // in text; numbers exclude their letter suffix
	low   span  // words: lowercase, clitic removed; numbers: lowercase suffix (arena)
	canon span  // words: stemmed content form, or low for other classes (arena)
	ent   entry
}

// Limits of one prompt. A prompt beyond them is never matched
// semantically (Check refuses it): long prompts are rarely paraphrased
// and the exact cache still serves them.
const (
	// MaxBytes is the longest prompt the guard reads.
	MaxBytes = 8 << 10
	// MaxTokens bounds the words, numbers and symbols of a prompt.
	MaxTokens = 512
	// MaxFeatures bounds the features of a prompt.
	MaxFeatures = 512
)

// doc is a scanned prompt. Its slices are reused through docPool.
type doc struct {
	text     string
	arena    []byte
	toks     []token
	feats    []feature
	neg      span // first negation, in text
	hasNeg   bool
	hasNum   bool
	shouting bool // mostly upper case: capitals say nothing
	overflow bool
	// kinds[k]:kinds[k+1] is the range of feats of kind k once indexed.
	kinds [numKinds + 1]int32
	tmp   []feature // scratch for index
}

func (d *doc) reset(text string) {
	d.text = text
	d.arena = d.arena[:0]
	d.toks = d.toks[:0]
	d.feats = d.feats[:0]
	d.neg = span{}
	d.hasNeg, d.hasNum, d.shouting, d.overflow = false, false, false, false
}

// build scans text into d.
func (d *doc) build(text string) {
	d.reset(text)
	if len(text) > MaxBytes {
		d.overflow = true
		return
	}
	d.shouting = isShouting(text)
	d.quotes()
	d.chunks()
	if d.overflow {
		return
	}
	d.interpret()
	if len(d.feats) > MaxFeatures {
		d.overflow = true
	}
	d.index()
}

// index groups the features by kind with a counting sort, keeping their
// order within a kind (numbers are compared in order).
func (d *doc) index() {
	var counts [numKinds + 1]int32
	for _, f := range d.feats {
		counts[f.kind+1]++
	}
	for k := 1; k <= int(numKinds); k++ {
		counts[k] += counts[k-1]
	}
	d.kinds = counts
	d.tmp = append(d.tmp[:0], d.feats...)
	for _, f := range d.tmp {
		d.feats[counts[f.kind]] = f
		counts[f.kind]++
	}
}

// of returns the features of kind k.
func (d *doc) of(k fkind) []feature { return d.feats[d.kinds[k]:d.kinds[k+1]] }

func (d *doc) bytes(s span) []byte { return d.arena[s.s:s.e] }

// str returns a feature's canonical value. The string shares memory
// with d only for text features; callers use it for comparisons (which
// the compiler does without copying) and reasons.
func (d *doc) str(f feature) string {
	if f.inText() {
		return d.text[f.val.s:f.val.e]
	}
	return string(d.arena[f.val.s:f.val.e])
}

// same reports whether f of d and g of o have the same value (and unit).
func same(d *doc, f feature, o *doc, g feature) bool {
	if f.kind != g.kind || f.h != g.h {
		return false
	}
	if f.inText() {
		return d.text[f.val.s:f.val.e] == o.text[g.val.s:g.val.e]
	}
	return string(d.arena[f.val.s:f.val.e]) == string(o.arena[g.val.s:g.val.e]) &&
		string(d.arena[f.unit.s:f.unit.e]) == string(o.arena[g.unit.s:g.unit.e])
}

func (d *doc) add(f feature) {
	if len(d.feats) >= MaxFeatures {
		d.overflow = true
		return
	}
	// FNV-1a over the value, a separator, and the unit.
	h := uint64(14695981039346656037)
	if f.inText() {
		for i := f.val.s; i < f.val.e; i++ {
			h = (h ^ uint64(d.text[i])) * 1099511628211
		}
	} else {
		for _, c := range d.arena[f.val.s:f.val.e] {
			h = (h ^ uint64(c)) * 1099511628211
		}
		h = (h ^ 0xff) * 1099511628211
		for _, c := range d.arena[f.unit.s:f.unit.e] {
			h = (h ^ uint64(c)) * 1099511628211
		}
	}
	f.h = h
	d.feats = append(d.feats, f)
}

func (d *doc) addText(k fkind, s, e int) {
	// Trim spaces: "  x " and "x" quote the same thing.
	for s < e && isSpaceByte(d.text[s]) {
		s++
	}
	for e > s && isSpaceByte(d.text[e-1]) {
		e--
	}
	if s < e {
		sp := span{int32(s), int32(e)}
		d.add(feature{kind: k, val: sp, src: sp})
	}
}

func (d *doc) intern(s string) span {
	start := len(d.arena)
	d.arena = append(d.arena, s...)
	return span{int32(start), int32(len(d.arena))}
}

func (d *doc) internBytes(b []byte) span {
	start := len(d.arena)
	d.arena = append(d.arena, b...)
	return span{int32(start), int32(len(d.arena))}
}

// isShouting reports whether most letters are upper case.
func isShouting(text string) bool {
	up, low := 0, 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case 'A' <= c && c <= 'Z':
			up++
		case 'a' <= c && c <= 'z':
			low++
		}
	}
	return up > 8 && up > low
}

// quotes finds quoted text and code spans.
func (d *doc) quotes() {
	t := d.text
	for i := 0; i < len(t); {
		// Jump to the next byte that can start a quotation.
		j := strings.IndexAny(t[i:], "`\"'\xe2")
		if j < 0 {
			return
		}
		i += j
		switch c := t[i]; {
		case c == '`':
			n := 1
			if strings.HasPrefix(t[i:], "```") {
				n = 3
			}
			j := strings.Index(t[i+n:], t[i:i+n])
			if j < 0 {
				i += n
				continue
			}
			d.addText(fCode, i+n, i+n+j)
			i += n + j + n
		case c == '"':
			j := strings.IndexByte(t[i+1:], '"')
			if j < 0 {
				i++
				continue
			}
			d.addText(fQuote, i+1, i+1+j)
			i += j + 2
		case c == '\'':
			if !opensQuote(t, i, 1) {
				i++
				continue
			}
			k := closingQuote(t, i+1, "'")
			if k < 0 {
				i++
				continue
			}
			d.addText(fQuote, i+1, k)
			i = k + 1
		case c == 0xE2 && strings.HasPrefix(t[i:], "“"):
			j := strings.Index(t[i+3:], "”")
			if j < 0 {
				i += 3
				continue
			}
			d.addText(fQuote, i+3, i+3+j)
			i += 3 + j + 3
		case c == 0xE2 && strings.HasPrefix(t[i:], "‘") && opensQuote(t, i, 3):
			k := closingQuote(t, i+3, "’")
			if k < 0 {
				i += 3
				continue
			}
			d.addText(fQuote, i+3, k)
			i = k + 3
		default:
			i++
		}
	}
}

// opensQuote reports whether the quote mark of n bytes at i starts a
// quotation rather than being an apostrophe: it follows a space or an
// opening bracket and precedes a non-space.
func opensQuote(t string, i, n int) bool {
	if i > 0 {
		switch t[i-1] {
		case ' ', '\t', '\n', '\r', '(', '[', '{':
		default:
			return false
		}
	}
	return i+n < len(t) && !isSpaceByte(t[i+n])
}

// closingQuote finds the mark q closing a quotation from i on the same
// line: one after a non-space and before a space, punctuation or the end
// ("users' files" is closed by the end, not by the apostrophe).
func closingQuote(t string, i int, q string) int {
	for k := i; k < len(t); k++ {
		if t[k] == '\n' {
			return -1
		}
		if !strings.HasPrefix(t[k:], q) || k == i || isSpaceByte(t[k-1]) {
			continue
		}
		after := k + len(q)
		if after == len(t) {
			return k
		}
		switch t[after] {
		case ' ', '\t', '\n', '\r', '.', ',', ';', ':', '!', '?', ')', ']', '}':
			return k
		}
	}
	return -1
}

// chunks splits the text on white space, recognises whole-chunk features
// (URLs, paths, identifiers) and tokenises the rest.
func (d *doc) chunks() {
	t := d.text
	atStart := true
	for i := 0; i < len(t); {
		r, size := rune(t[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(t[i:])
		}
		if unicode.IsSpace(r) {
			if r == '\n' {
				atStart = true
			}
			i += size
			continue
		}
		j := i
		for j < len(t) {
			r, size := rune(t[j]), 1
			if r >= utf8.RuneSelf {
				r, size = utf8.DecodeRuneInString(t[j:])
			}
			if unicode.IsSpace(r) {
				break
			}
			j += size
		}
		atStart = d.chunk(i, j, atStart)
		if len(d.toks) > MaxTokens {
			d.overflow = true
			return
		}
		i = j
	}
}

// chunk handles text[lo:hi], a run without spaces, and reports whether the
// next chunk starts a sentence.
func (d *doc) chunk(lo, hi int, atStart bool) bool {
	t := d.text
	// Opening punctuation and quote marks.
	for lo < hi {
		c := t[lo]
		if c < utf8.RuneSelf {
			if !isOpening[c] {
				break
			}
			lo++
			continue
		}
		r, size := utf8.DecodeRuneInString(t[lo:hi])
		if r != '“' && r != '‘' && r != '«' && r != '•' {
			break
		}
		lo += size
	}
	// A lone dash or bullet is punctuation.
	if hi-lo == 1 && (t[lo] == '-' || t[lo] == '#') {
		return atStart
	}
	end := false
	for hi > lo {
		r, size := rune(t[hi-1]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeLastRuneInString(t[lo:hi])
		}
		switch r {
		case '.', '!', '?', ':':
			end = true
		case ',', ';', '"', '\'', '`', '”', '’', '»', ']', '}', '>':
		case ')':
			if strings.Count(t[lo:hi], "(") >= strings.Count(t[lo:hi], ")") {
				size = 0
			}
		default:
			size = 0
		}
		if size == 0 {
			break
		}
		hi -= size
	}
	if lo >= hi {
		return atStart || end
	}
	core := t[lo:hi]
	// Plain words skip the code classifiers: they need one of these.
	special := false
	for i := 0; i < len(core); i++ {
		if c := core[i]; c < utf8.RuneSelf && isSpecial[c] {
			special = true
			break
		}
	}
	switch {
	case !special:
		d.lex(lo, hi, atStart)
	case isURL(core), isPath(core):
		d.add(feature{kind: fURL, val: span{int32(lo), int32(hi)}, src: span{int32(lo), int32(hi)}})
	case isIdent(core):
		d.add(feature{kind: fIdent, val: span{int32(lo), int32(hi)}, src: span{int32(lo), int32(hi)}})
	default:
		d.lex(lo, hi, atStart)
	}
	return end
}

// isOpening marks the ASCII punctuation trimmed from the front of a chunk.
var isOpening = asciiSet("([{<\"'`*>")

// isSpecial marks the ASCII bytes without which a chunk cannot be a URL,
// path or identifier.
var isSpecial = asciiSet(":/\\@._#=<>[]{}(+-")

func asciiSet(chars string) (set [utf8.RuneSelf]bool) {
	for i := 0; i < len(chars); i++ {
		set[chars[i]] = true
	}
	return set
}

func isURL(s string) bool {
	if strings.Contains(s, "://") || hasPrefixFold(s, "www.") {
		return true
	}
	at := strings.IndexByte(s, '@')
	return at > 0 && strings.IndexByte(s[at+1:], '.') > 0 && strings.Count(s, "@") == 1
}

func isPath(s string) bool {
	if strings.IndexByte(s, '\\') >= 0 {
		return true
	}
	n := strings.Count(s, "/")
	if n == 0 {
		return false
	}
	if strings.Trim(s, "0123456789/.-") == "" {
		return false // a fraction or a date
	}
	if s[0] == '/' && len(s) > 1 || strings.HasPrefix(s, "~/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		return true
	}
	// "and/or", "km/h", "TCP/IP" are words; "src/main.go", "a/b/c" paths.
	return n >= 2 || strings.ContainsAny(s, "._")
}

// isIdent reports whether s is code: snake_case, dotted.names, calls(),
// operators glued to names (C++, C#, a=b), generics and indexing.
func isIdent(s string) bool {
	letters := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c|0x20 && c|0x20 <= 'z' {
			letters = true
			break
		}
	}
	if !letters {
		return false
	}
	if strings.ContainsAny(s, "_#=<>[]{}") || strings.Contains(s, "++") || strings.Contains(s, "::") || strings.Contains(s, "->") {
		return true
	}
	if i := strings.IndexByte(s, '('); i > 0 {
		return true
	}
	// An inner dot between letters or digits makes a dotted name, unless
	// every part is one letter ("e.g", "U.S") or the whole is numeric.
	if strings.IndexByte(s, '.') > 0 {
		long := false
		for _, part := range strings.Split(s, ".") {
			if part == "" {
				return false
			}
			if len(part) > 1 {
				long = true
			}
		}
		return long && strings.Trim(s, "0123456789.,") != ""
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// lex splits text[lo:hi] into word, number and symbol tokens.
func (d *doc) lex(lo, hi int, atStart bool) {
	t := d.text
	first := true
	for p := lo; p < hi; {
		c := t[p]
		switch {
		case isDigit(c) || c == '.' && p+1 < hi && isDigit(t[p+1]) && (p == lo || !isDigit(t[p-1])):
			p = d.lexNumber(p, hi)
			first = false
		case c < utf8.RuneSelf && isASCIILetter(c) || c >= utf8.RuneSelf && startsLetter(t[p:hi]):
			p = d.lexWord(p, hi, atStart && first)
			first = false
		case c < utf8.RuneSelf && strings.IndexByte("+-*/^=<>%$!", c) >= 0:
			d.toks = append(d.toks, token{kind: tSym, sym: rune(c), s: int32(p), e: int32(p + 1)})
			p++
		default:
			r, size := utf8.DecodeRuneInString(t[p:hi])
			if strings.ContainsRune("€£¥°×÷", r) {
				d.toks = append(d.toks, token{kind: tSym, sym: r, s: int32(p), e: int32(p + size)})
			}
			p += size
		}
	}
}

func startsLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLetter(r)
}

func isDigit(c byte) bool       { return '0' <= c && c <= '9' }
func isASCIILetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isSpaceByte(c byte) bool   { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// lexNumber reads a number at p: digits with inner . , : separators
// ("3.14", "1,000", "7:30", "192.168.0.1"), a full date ("2024-03-15",
// "15/01/2024"), and a letter suffix ("5km", "3pm", "2nd").
func (d *doc) lexNumber(p, hi int) int {
	t := d.text
	start := p
	for p < hi && isDigit(t[p]) {
		p++
	}
	for p+1 < hi && (t[p] == '.' || t[p] == ',' || t[p] == ':') && isDigit(t[p+1]) {
		p++
		for p < hi && isDigit(t[p]) {
			p++
		}
	}
	flags := uint16(0)
	if p+1 < hi && (t[p] == '-' || t[p] == '/') && isDigit(t[p+1]) {
		sep := t[p]
		q := p + 1
		for q < hi && isDigit(t[q]) {
			q++
		}
		if q+1 < hi && t[q] == sep && isDigit(t[q+1]) {
			q++
			for q < hi && isDigit(t[q]) {
				q++
			}
			p = q
			flags |= tfDate
		}
	}
	end := p
	sufStart := len(d.arena)
	for p < hi && isASCIILetter(t[p]) {
		d.arena = append(d.arena, t[p]|0x20)
		p++
	}
	d.toks = append(d.toks, token{kind: tNum, flags: flags, s: int32(start), e: int32(end),
		low: span{int32(sufStart), int32(len(d.arena))}})
	d.hasNum = true
	return p
}

// lexWord reads a word at p: letters and digits, with apostrophes inside.
func (d *doc) lexWord(p, hi int, start bool) int {
	t := d.text
	s := p
	lowStart := len(d.arena)
	var flags uint16
	if start {
		flags |= tfStart
	}
	letters, uppers := 0, 0
	for p < hi {
		c := t[p]
		if c < utf8.RuneSelf {
			switch {
			case 'a' <= c && c <= 'z':
				letters++
				d.arena = append(d.arena, c)
				p++
				continue
			case 'A' <= c && c <= 'Z':
				letters++
				uppers++
				if p == s {
					flags |= tfCap
				} else {
					flags |= tfInnerCap
				}
				d.arena = append(d.arena, c+'a'-'A')
				p++
				continue
			case '0' <= c && c <= '9':
				d.arena = append(d.arena, c)
				p++
				continue
			case c != '\'':
				goto done
			}
		}
		r, size := rune(c), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(t[p:hi])
		}
		if r == '\'' || r == '’' {
			// An apostrophe stays only inside a word.
			next, _ := utf8.DecodeRuneInString(t[p+size : hi])
			if p+size >= hi || !unicode.IsLetter(next) {
				break
			}
			d.arena = append(d.arena, '\'')
			p += size
			continue
		}
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				uppers++
				if p == s {
					flags |= tfCap
				} else {
					flags |= tfInnerCap
				}
			}
		}
		d.arena = utf8.AppendRune(d.arena, unicode.ToLower(r))
		p += size
	}
done:
	if letters >= 2 && uppers == letters {
		flags |= tfAllCaps
		flags &^= tfInnerCap
	}
	if d.shouting {
		flags &^= tfCap | tfInnerCap | tfAllCaps
	}
	tk := token{kind: tWord, flags: flags, s: int32(s), e: int32(p), low: span{int32(lowStart), int32(len(d.arena))}}
	d.splitClitic(&tk)
	if e, ok := lexicon[string(d.bytes(tk.low))]; ok {
		tk.ent, tk.flags = e, tk.flags|tfKnown
		if e.class == classNumber || e.class == classScale || e.class == classFraction || e.flags&flagSquare != 0 {
			d.hasNum = true
		}
	}
	if tk.flags&tfNeg != 0 {
		d.negation(tk)
	}
	d.toks = append(d.toks, tk)
	return p
}

// splitClitic removes a clitic from a word: "don't" -> "do" (and a
// negation), "France's" -> "france", "can't" -> "can".
func (d *doc) splitClitic(tk *token) {
	w := d.bytes(tk.low)
	k := -1
	for i, c := range w {
		if c == '\'' {
			k = i
			break
		}
	}
	if k < 0 {
		return
	}
	if hasSuffix(w, "n't") {
		tk.flags |= tfNeg
		switch string(w[:len(w)-3]) {
		case "ca":
			tk.low = d.intern("can")
			return
		case "wo":
			tk.low = d.intern("will")
			return
		case "sha":
			tk.low = d.intern("shall")
			return
		}
		tk.low.e -= 3
		return
	}
	tk.low.e = tk.low.s + int32(k)
}

func (d *doc) negation(tk token) {
	if !d.hasNeg {
		d.hasNeg = true
		d.neg = span{tk.s, tk.e}
	}
}

// interpret turns tokens into features.
func (d *doc) interpret() {
	var (
		// Each *Until is the last word position at which an earlier word
		// still waits for something: the target after a conversion's
		// to/into, the object after "than", the unit after "how many",
		// the unit after "in". Zero means nothing is waiting.
		targetUntil, thanUntil, howUntil, inUntil int32
		convPending                               bool // a conversion verb waits for to/into
		wordPos                                   int32
	)
	for i := 0; i < len(d.toks); i++ {
		tk := &d.toks[i]
		if tk.flags&tfUsed != 0 {
			continue
		}
		switch tk.kind {
		case tNum:
			i = d.number(i) - 1
			continue
		case tSym:
			d.symbol(i)
			continue
		}
		wordPos++
		cls := tk.ent.class
		if tk.flags&tfKnown == 0 {
			cls = classContent
		}
		// A word in capitals is a name whatever it spells ("US", "IT").
		if tk.flags&tfAllCaps != 0 && cls != classNegation && cls != classNumber && cls != classUnit {
			cls = classContent
		}
		if tk.ent.flags&flagNeedsNumber != 0 && (cls == classDate || cls == classOp) {
			prevNum, nextNum := d.isNumber(i-1), d.isNumber(i+1)
			switch {
			case cls == classDate && (prevNum || nextNum || tk.flags&tfCap != 0 && tk.flags&tfStart == 0):
			case cls == classOp && prevNum && nextNum:
			default:
				cls = tk.ent.alt
			}
		}
		if cls == classOp && !d.hasNum {
			cls = classContent // "add a user" is no arithmetic
		}
		// Only scaffolding may stand between "in"/"how many" and a unit.
		if cls != classScaffold && cls != classUnit {
			inUntil, howUntil = 0, 0
		}
		tk.canon = tk.low
		src := span{tk.s, tk.e}
		switch cls {
		case classNegation:
			d.negation(*tk)
		case classNumber, classScale:
			i = d.written(i) - 1
			continue
		case classScaffold:
			if w := d.bytes(tk.low); (string(w) == "a" || string(w) == "an") && i+1 < len(d.toks) &&
				d.toks[i+1].flags&tfKnown != 0 && (d.toks[i+1].ent.class == classScale || string(d.bytes(d.toks[i+1].low)) == "dozen") {
				i = d.written(i) - 1
				continue
			}
		case classOrdinal, classPosition, classFraction:
			d.add(feature{kind: fNumber, val: d.intern(tk.ent.val), src: src})
		case classUnit:
			// "What year" asks when.
			if tk.ent.val == "year" && i > 0 && d.toks[i-1].kind == tWord {
				if w := d.bytes(d.toks[i-1].low); string(w) == "what" || string(w) == "which" {
					d.add(feature{kind: fWh, val: d.intern("when"), src: src})
					continue
				}
			}
			u := d.intern(tk.ent.val)
			d.add(feature{kind: fUnit, val: u, src: src})
			switch {
			case targetUntil >= wordPos:
				d.add(feature{kind: fTarget, val: u, src: src})
				targetUntil = 0
			case howUntil >= wordPos:
				d.add(feature{kind: fTarget, val: u, src: src})
			case inUntil >= wordPos:
				d.add(feature{kind: fTargetIn, val: u, src: src})
			}
			if thanUntil >= wordPos {
				d.add(feature{kind: fThan, val: u, src: src})
				thanUntil = 0
			}
			inUntil, howUntil = 0, 0
		case classDate:
			d.add(feature{kind: fDate, val: d.intern(tk.ent.val), src: src})
		case classWh:
			w := d.bytes(tk.low)
			if k := len(w) - 2; k > 0 && w[k] == '\'' {
				w = w[:k] // who's
			}
			d.add(feature{kind: fWh, val: d.internBytes(w), src: src})
		case classTense:
			d.add(feature{kind: fTense, val: d.intern(tk.ent.val), src: src})
		case classPerson:
			d.add(feature{kind: fPerson, val: d.intern(tk.ent.val), src: src})
		case classQuant:
			d.add(feature{kind: fQuant, val: d.intern(tk.ent.val), src: src})
		case classOp:
			v := tk.ent.val
			if tk.ent.flags&flagSquare != 0 {
				d.add(feature{kind: fNumber, val: d.intern(v[1:]), src: src})
				v = v[:1]
			}
			d.add(feature{kind: fOp, val: d.intern(v), src: src})
		case classThan:
			thanUntil = wordPos + 3
		case classTo:
			if convPending {
				targetUntil, convPending = wordPos+3, false
			}
		case classIn:
			inUntil = wordPos + 2
		case classHowMany:
			if i > 0 && d.toks[i-1].kind == tWord && string(d.bytes(d.toks[i-1].low)) == "how" {
				howUntil = wordPos + 3
			}
		case classConvert:
			convPending = true
		}
		if cls != classContent && cls != classConvert {
			continue
		}
		// A content word.
		tk.canon = d.contentForm(tk.low)
		d.add(feature{kind: fContent, val: tk.canon, src: src})
		if tk.flags&(tfInnerCap|tfAllCaps) != 0 || tk.flags&tfCap != 0 && tk.flags&tfStart == 0 {
			d.add(feature{kind: fEntity, val: tk.canon, src: src})
		} else if tk.flags&tfCap != 0 && tk.ent.flags&flagCommonStart == 0 && cls == classContent {
			d.add(feature{kind: fEntity, val: tk.canon, src: src, weak: true})
		}
		if cls == classContent && targetUntil >= wordPos {
			d.add(feature{kind: fTarget, val: tk.canon, src: src})
			targetUntil = 0
		}
		if thanUntil >= wordPos {
			d.add(feature{kind: fThan, val: tk.canon, src: src})
			thanUntil = 0
		}
	}
}

// isNumber reports whether token i is a number, in digits or words.
func (d *doc) isNumber(i int) bool {
	if i < 0 || i >= len(d.toks) {
		return false
	}
	tk := d.toks[i]
	return tk.kind == tNum || tk.kind == tWord && tk.flags&tfKnown != 0 &&
		(tk.ent.class == classNumber || tk.ent.class == classScale)
}

// contentForm stems a lowercase word and maps it to its synonym group.
func (d *doc) contentForm(low span) span {
	sp := d.internBytes(d.bytes(low))
	st := stemBytes(d.arena[sp.s:sp.e])
	sp.e = sp.s + int32(len(st))
	if head, ok := synonyms[string(st)]; ok {
		return d.intern(head)
	}
	return sp
}

// symbol handles an operator symbol that no number consumed.
func (d *doc) symbol(i int) {
	tk := d.toks[i]
	if !d.hasNum {
		return
	}
	prevNum := i > 0 && d.toks[i-1].kind == tNum
	nextNum := i+1 < len(d.toks) && d.toks[i+1].kind == tNum
	var op string
	switch tk.sym {
	case '+':
		op = "+"
	case '^':
		op = "^"
	case '=':
		op = "="
	case '<':
		op = "<"
	case '>':
		op = ">"
	case '×':
		op = "*"
	case '÷':
		op = "/"
	case '*':
		op = "*"
		if i+1 < len(d.toks) && d.toks[i+1].kind == tSym && d.toks[i+1].sym == '*' && d.toks[i+1].s == tk.e {
			op = "^"
			d.toks[i+1].flags |= tfUsed
		}
	case '-':
		if prevNum && nextNum {
			op = "-"
		}
	case '/':
		if prevNum && nextNum {
			op = "/"
		}
	case '%':
		if prevNum && nextNum {
			op = "mod"
		}
	}
	if op != "" {
		d.add(feature{kind: fOp, val: d.intern(op), src: span{tk.s, tk.e}})
	}
}

// number reads the number token at i with its unit and returns the index
// of the first token after it.
func (d *doc) number(i int) int {
	tk := d.toks[i]
	raw := d.text[tk.s:tk.e]
	src := span{tk.s, tk.e}
	if tk.flags&tfDate != 0 {
		d.add(feature{kind: fDate, val: d.intern(raw), src: src})
		return i + 1
	}
	suffix := d.bytes(tk.low)
	val := span{int32(len(d.arena)), 0}
	neg := i > 0 && d.toks[i-1].kind == tSym && d.toks[i-1].sym == '-' && d.toks[i-1].e == tk.s &&
		(i < 2 || d.toks[i-2].kind != tNum || d.toks[i-2].e != d.toks[i-1].s)
	if neg {
		d.toks[i-1].flags |= tfUsed
		d.arena = append(d.arena, '-')
	}
	next := i + 1
	var unit string
	isTime := strings.IndexByte(raw, ':') >= 0
	switch {
	case string(suffix) == "st" || string(suffix) == "nd" || string(suffix) == "rd" || string(suffix) == "th":
		d.arena = append(d.arena, '#')
		d.arena = append(d.arena, raw...)
		suffix = nil
	case len(raw) == 4 && string(suffix) == "s":
		d.arena = append(d.arena, raw...)
		d.arena = append(d.arena, 's')
		suffix = nil
	case isTime:
		d.arena = append(d.arena, raw...)
	default:
		d.arena = appendNumber(d.arena, raw)
	}
	val.e = int32(len(d.arena))
	// Am and pm make a time, written on or after the number.
	if len(suffix) == 0 && next < len(d.toks) && d.toks[next].kind == tWord {
		if w := d.bytes(d.toks[next].low); string(w) == "am" || string(w) == "pm" {
			suffix = w
			d.toks[next].flags |= tfUsed
			next++
		}
	}
	if string(suffix) == "am" || string(suffix) == "pm" {
		val = d.clock(val, string(suffix) == "pm")
		suffix = nil
		isTime = true
	}
	if len(suffix) > 0 {
		unit = unitOf(suffix, true)
	}
	if unit == "" && !isTime {
		unit, next = d.unitAfter(next, &val)
	}
	if i > 0 && d.toks[i-1].kind == tSym && d.toks[i-1].e == tk.s {
		switch d.toks[i-1].sym {
		case '$':
			unit = "$"
		case '€':
			unit = "€"
		case '£':
			unit = "£"
		case '¥':
			unit = "¥"
		}
	}
	f := feature{kind: fNumber, val: val, src: src}
	if unit != "" {
		f.unit = d.intern(unit)
		d.add(feature{kind: fUnit, val: f.unit, src: src})
	}
	d.add(f)
	return next
}

// unitOf returns the canonical unit of a spelling, or "" when it is none.
// attached allows the spellings that are units only written onto a
// number.
func unitOf(w []byte, attached bool) string {
	if e, ok := lexicon[string(w)]; ok && e.class == classUnit {
		return e.val
	}
	if u, ok := afterNumber[string(w)]; ok {
		return u
	}
	if attached {
		if u, ok := attachedUnits[string(w)]; ok {
			return u
		}
		return string(w) // an unknown suffix still tells numbers apart: "5v" != "5"
	}
	return ""
}

// unitAfter reads a scale word and a unit after a number at token i, and
// returns the unit and the index after what it used. A scale word
// multiplies the value in place.
func (d *doc) unitAfter(i int, val *span) (string, int) {
	if i < len(d.toks) && d.toks[i].kind == tWord && d.toks[i].ent.class == classScale && d.toks[i].flags&tfKnown != 0 {
		if v, err := strconv.ParseFloat(string(d.arena[val.s:val.e]), 64); err == nil {
			val.s = int32(len(d.arena))
			d.arena = strconv.AppendFloat(d.arena, v*d.toks[i].ent.num, 'f', -1, 64)
			val.e = int32(len(d.arena))
		}
		i++
	}
	if i >= len(d.toks) {
		return "", i
	}
	tk := d.toks[i]
	switch tk.kind {
	case tSym:
		switch tk.sym {
		case '%':
			return "%", i + 1
		case '°':
			if i+1 < len(d.toks) && d.toks[i+1].kind == tWord {
				if u := unitOf(d.bytes(d.toks[i+1].low), true); u == "°c" || u == "°f" || u == "k" {
					return u, i + 2
				}
			}
			return "deg", i + 1
		}
	case tWord:
		w := d.bytes(tk.low)
		if string(w) == "per" && i+1 < len(d.toks) && string(d.bytes(d.toks[i+1].low)) == "cent" {
			return "%", i + 2
		}
		u := unitOf(w, false)
		if u == "" {
			return "", i
		}
		// "100 degrees Fahrenheit" is in Fahrenheit.
		if u == "deg" && i+1 < len(d.toks) && d.toks[i+1].kind == tWord {
			if s := unitOf(d.bytes(d.toks[i+1].low), false); s == "°c" || s == "°f" || s == "k" {
				return s, i + 2
			}
		}
		return u, i + 1
	}
	return "", i
}

// clock rewrites a number span as a 24-hour time h:mm.
func (d *doc) clock(val span, pm bool) span {
	s := string(d.arena[val.s:val.e])
	h, m := s, "00"
	if k := strings.IndexByte(s, ':'); k >= 0 {
		h, m = s[:k], s[k+1:]
	}
	hv, err := strconv.Atoi(h)
	if err != nil || hv > 12 {
		return val
	}
	if hv == 12 {
		hv = 0
	}
	if pm {
		hv += 12
	}
	out := span{int32(len(d.arena)), 0}
	d.arena = strconv.AppendInt(d.arena, int64(hv), 10)
	d.arena = append(d.arena, ':')
	d.arena = append(d.arena, m...)
	out.e = int32(len(d.arena))
	return out
}

// appendNumber appends the canonical form of a numeral: thousands
// separators dropped ("1,000" -> "1000"), a leading dot completed
// (".5" -> "0.5"); anything else (versions, IPs) verbatim.
func appendNumber(dst []byte, raw string) []byte {
	if raw[0] == '.' {
		dst = append(dst, '0')
	}
	if strings.IndexByte(raw, ',') < 0 || !thousands(raw) {
		return append(dst, raw...)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != ',' {
			dst = append(dst, raw[i])
		}
	}
	return dst
}

// thousands reports whether the commas of raw group thousands: 1,000 and
// 12,345.6 but not 1,5.
func thousands(raw string) bool {
	intPart := raw
	if k := strings.IndexByte(raw, '.'); k >= 0 {
		intPart = raw[:k]
	}
	groups := strings.Split(intPart, ",")
	if len(groups[0]) == 0 || len(groups[0]) > 3 {
		return false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return false
		}
	}
	return true
}

// written reads a number in words at i ("twenty five", "a hundred and
// five", "two thousand") with its unit, and returns the index after it.
func (d *doc) written(i int) int {
	first := i
	start := d.toks[i]
	var total, cur float64
	any, lastTens, lastScale := false, false, false
	if w := d.bytes(start.low); string(w) == "a" || string(w) == "an" {
		cur = 1
		i++
	}
	for ; i < len(d.toks); i++ {
		tk := d.toks[i]
		if tk.kind == tSym && tk.sym == '-' && any && i+1 < len(d.toks) && d.toks[i+1].s == tk.e && tk.s == d.toks[i-1].e {
			continue // twenty-five
		}
		if tk.kind != tWord || tk.flags&tfKnown == 0 {
			break
		}
		e := tk.ent
		w := d.bytes(tk.low)
		if string(w) == "and" && lastScale && i+1 < len(d.toks) && d.toks[i+1].ent.class == classNumber && d.toks[i+1].flags&tfKnown != 0 {
			continue
		}
		if e.class == classNumber {
			if any && !(lastTens && e.num < 10) && !lastScale {
				break // a second number: "two three"
			}
			if string(w) == "dozen" {
				cur = max(cur, 1) * 12
			} else {
				cur += e.num
			}
			lastTens, lastScale = e.num >= 20 && e.num < 100, false
		} else if e.class == classScale {
			cur = max(cur, 1)
			if e.num == 100 {
				cur *= 100
			} else {
				total += cur * e.num
				cur = 0
			}
			lastTens, lastScale = false, true
		} else {
			break
		}
		any = true
	}
	val := span{int32(len(d.arena)), 0}
	d.arena = strconv.AppendFloat(d.arena, total+cur, 'f', -1, 64)
	val.e = int32(len(d.arena))
	end := d.toks[max(i-1, 0)].e
	src := span{start.s, end}
	f := feature{kind: fNumber, val: val, src: src}
	unit, next := d.unitAfter(i, &val)
	f.val = val
	if unit != "" {
		f.unit = d.intern(unit)
		d.add(feature{kind: fUnit, val: f.unit, src: src})
	}
	d.add(f)
	return max(next, i, first+1)
}
