// Package pii finds personal data and secrets in prompts (e-mail
// addresses, phone numbers, payment card numbers, IBANs and API keys) and
// applies a key's PII policy to them: allow, redact for the cloud (the
// values replaced by placeholders on the way to a cloud provider and put
// back in its answer), local only, or block. The scanner is hand-written
// rather than a set of regular expressions because it runs on every prompt
// of a key with a policy: one pass, checksums (Luhn, mod-97) to keep order
// numbers and dates out, and no allocation when nothing is found.
package pii

import (
	"math"
	"strings"
)

// Kind is what a finding is.
type Kind uint8

// Kinds of findings.
const (
	Email Kind = iota + 1
	Phone
	Card
	IBAN
	Secret // an API key or a token that looks like one
	numKinds
)

var kindNames = [numKinds]string{"", "email", "phone", "card", "iban", "api_key"}

// tags name a kind in placeholders.
var tags = [numKinds]string{"", "EMAIL", "PHONE", "CARD", "IBAN", "SECRET"}

// String names k as messages and fixtures do: email, phone, card, iban,
// api_key.
func (k Kind) String() string {
	if k == 0 || k >= numKinds {
		return "unknown"
	}
	return kindNames[k]
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) {
	for k := Email; k < numKinds; k++ {
		if kindNames[k] == s {
			return k, true
		}
	}
	return 0, false
}

// Kinds is a set of kinds.
type Kinds uint8

// Has reports whether k is in the set.
func (ks Kinds) Has(k Kind) bool { return ks&(1<<k) != 0 }

// With returns the set with k added.
func (ks Kinds) With(k Kind) Kinds { return ks | 1<<k }

// String lists the kinds, comma-separated, for error messages.
func (ks Kinds) String() string {
	s := ""
	for k := Email; k < numKinds; k++ {
		if ks.Has(k) {
			if s != "" {
				s += ", "
			}
			s += kindNames[k]
		}
	}
	return s
}

// Finding is one piece of personal data: s[Start:End] of the scanned text.
type Finding struct {
	Kind       Kind
	Start, End int
}

// Scan appends the findings in s to dst, in order, and returns it. It
// allocates only to grow dst.
func Scan(dst []Finding, s string) []Finding {
	for i := 0; i < len(s); {
		f, ok := next(s, i)
		if !ok {
			break
		}
		dst = append(dst, f)
		i = f.End
	}
	return dst
}

// Count returns how many findings s holds and of which kinds, without
// allocating.
func Count(s string) (n int, kinds Kinds) {
	for i := 0; i < len(s); {
		f, ok := next(s, i)
		if !ok {
			break
		}
		n++
		kinds = kinds.With(f.Kind)
		i = f.End
	}
	return n, kinds
}

// next finds the first finding at or after from. Every detector starts at
// a word boundary; a word that starts nothing is skipped whole, so the scan
// is linear.
func next(s string, from int) (Finding, bool) {
	i := from
	// at is the next '@' at or after i (len(s) when none): an address can
	// start only within 64 bytes before one, which spares most words the
	// e-mail detector.
	at := -1
	for i < len(s) {
		c := s[i]
		if !startByte(c) || (i > 0 && !boundary(s[i-1])) {
			i++
			continue
		}
		if at < i {
			at = indexAt(s, i)
		}
		if at-i <= 64 && at < len(s) {
			if end := detectEmail(s, i); end > 0 {
				return Finding{Email, i, end}, true
			}
		}
		if isAlpha(c) {
			if end := detectIBAN(s, i); end > 0 {
				return Finding{IBAN, i, end}, true
			}
		} else {
			if end := detectCard(s, i); end > 0 {
				return Finding{Card, i, end}, true
			}
			if end := detectPhone(s, i); end > 0 {
				return Finding{Phone, i, end}, true
			}
		}
		if end := detectSecret(s, i); end > 0 {
			return Finding{Secret, i, end}, true
		}
		// Skip the rest of this word: nothing starts inside it.
		i++
		if isAlnum(c) {
			for i < len(s) && (isAlnum(s[i]) || s[i] == '_') {
				i++
			}
		}
	}
	return Finding{}, false
}

// indexAt returns the index of the first '@' at or after i, or len(s).
func indexAt(s string, i int) int {
	if k := strings.IndexByte(s[i:], '@'); k >= 0 {
		return i + k
	}
	return len(s)
}

// Byte classes, looked up in one table: the scanner asks for each byte.
const (
	cDigit = 1 << iota
	cUpper
	cLower
	cToken // '_' and '-', which continue a token
)

var class = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = cDigit
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = cUpper
		t[c+'a'-'A'] = cLower
	}
	t['_'], t['-'] = cToken, cToken
	return t
}()

func isDigit(c byte) bool { return class[c]&cDigit != 0 }
func isUpper(c byte) bool { return class[c]&cUpper != 0 }
func isLower(c byte) bool { return class[c]&cLower != 0 }
func isAlpha(c byte) bool { return class[c]&(cUpper|cLower) != 0 }
func isAlnum(c byte) bool { return class[c]&(cDigit|cUpper|cLower) != 0 }

// startByte reports whether a finding may start with c.
func startByte(c byte) bool { return isAlnum(c) || c == '+' || c == '(' }

// boundary reports whether a finding may start right after c: not inside
// a word, a number, a path, a version or an identifier.
func boundary(c byte) bool {
	if isAlnum(c) || c >= 0x80 {
		return false
	}
	switch c {
	case '_', '-', '.', '/', '\\', '@', '+', '%', '&', '#', '$':
		return false
	}
	return true
}

// endsWord reports whether a finding may end before s[i]: at the end, or
// before a byte that does not continue it.
func endsWord(s string, i int) bool {
	if i >= len(s) {
		return true
	}
	c := s[i]
	if isAlnum(c) || c == '_' || c == '@' || c >= 0x80 {
		return false
	}
	// "123-4567-" or "1.2.3.4": a separator followed by more of the same
	// means the run goes on, as in a longer number or a version.
	if (c == '-' || c == '.' || c == '/') && i+1 < len(s) && isAlnum(s[i+1]) {
		return false
	}
	return true
}

// --- e-mail ---

func emailLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// detectEmail matches local@domain.tld at i, returning its end or 0.
func detectEmail(s string, i int) int {
	j := i
	for j < len(s) && emailLocal(s[j]) && j-i <= 64 {
		j++
	}
	if j == i || j >= len(s) || s[j] != '@' || s[i] == '.' || s[j-1] == '.' {
		return 0
	}
	j++ // '@'
	labels, lastStart := 0, j
	for {
		st := j
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-') && j-st < 63 {
			j++
		}
		if j == st || s[st] == '-' || s[j-1] == '-' {
			return 0
		}
		labels++
		lastStart = st
		if j+1 < len(s) && s[j] == '.' && isAlnum(s[j+1]) {
			j++
			continue
		}
		break
	}
	if labels < 2 {
		return 0
	}
	tld := s[lastStart:j]
	if len(tld) < 2 || len(tld) > 24 {
		return 0
	}
	for k := 0; k < len(tld); k++ {
		if !isAlpha(tld[k]) {
			return 0
		}
	}
	if fileExt(tld) {
		return 0 // icon@2x.png
	}
	if j < len(s) && (isAlnum(s[j]) || s[j] == '_' || s[j] == '@') {
		return 0
	}
	return j
}

// fileExt reports whether tld is a file extension that follows an "@"
// in asset names (logo@2x.png) rather than a top-level domain.
func fileExt(tld string) bool {
	for _, e := range [...]string{"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tiff", "heic", "pdf", "avif"} {
		if equalFold(tld, e) {
			return true
		}
	}
	return false
}

// equalFold compares ASCII s with lower-case e, ignoring case.
func equalFold(s, e string) bool {
	if len(s) != len(e) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		if c != e[i] {
			return false
		}
	}
	return true
}

// --- digit runs: cards and phones ---

// run describes a run of digit groups: where it ends (0: no run), its
// digits and groups, the lengths of the first two groups and the last,
// and its separators.
type run struct {
	end, digits, groups int
	first, second, last int
	seps                int // separators seen
	mixed               bool
	paren               bool
	sep                 byte
}

// digitRun reads digits from i in groups separated by single bytes from
// seps, with parentheses allowed around a group when parens is set.
func digitRun(s string, i int, seps string, parens bool) (r run) {
	j := i
	open := false
	if parens && j < len(s) && s[j] == '(' {
		open, r.paren = true, true
		j++
	}
	glen := 0
	for j < len(s) {
		c := s[j]
		if isDigit(c) {
			r.digits++
			glen++
			j++
			if r.digits > 24 {
				return run{}
			}
			continue
		}
		if glen == 0 {
			break
		}
		closeGroup := func() {
			r.groups++
			switch r.groups {
			case 1:
				r.first = glen
			case 2:
				r.second = glen
			}
			r.last = glen
			glen = 0
		}
		if open && c == ')' {
			open = false
			closeGroup()
			j++
			if j < len(s) && (s[j] == ' ' || s[j] == '-') && j+1 < len(s) && isDigit(s[j+1]) {
				j++
				r.seps++
			}
			continue
		}
		if !open && indexByte(seps, c) && j+1 < len(s) && (isDigit(s[j+1]) || parens && s[j+1] == '(' && r.groups == 0) {
			if r.sep == 0 {
				r.sep = c
			} else if r.sep != c {
				r.mixed = true
			}
			closeGroup()
			r.seps++
			j++
			if s[j] == '(' {
				open, r.paren = true, true
				j++
			}
			continue
		}
		break
	}
	if open || glen == 0 {
		return run{}
	}
	r.groups++
	switch r.groups {
	case 1:
		r.first = glen
	case 2:
		r.second = glen
	}
	r.last = glen
	r.end = j
	return r
}

func indexByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// detectCard matches a payment card number: 13 to 19 digits, in groups
// separated by single spaces or dashes, with a card network's leading
// digits and a valid Luhn checksum.
func detectCard(s string, i int) int {
	if !isDigit(s[i]) {
		return 0
	}
	r := digitRun(s, i, " -", false)
	if r.end == 0 || r.digits < 13 || r.digits > 19 || r.mixed || !endsWord(s, r.end) {
		return 0
	}
	if r.groups > 1 && (r.first != 4 || r.last < 3) {
		return 0 // cards are written 4-4-4-4 or 4-6-5; other groupings are other numbers
	}
	switch s[i] {
	case '2', '3', '4', '5', '6':
	default:
		return 0
	}
	if !luhn(s[i:r.end]) {
		return 0
	}
	return r.end
}

// luhn checks the Luhn checksum of the digits in s (other bytes skipped).
func luhn(s string) bool {
	sum, double := 0, false
	for k := len(s) - 1; k >= 0; k-- {
		c := s[k]
		if !isDigit(c) {
			continue
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// detectPhone matches a phone number: international (+ and 8 to 15
// digits), North American (3-3-4 groups, an area code not starting with 0
// or 1) or national with a trunk 0 (10 or 11 digits in at least two
// groups). A run of digits with no separator is a phone number only with
// "+": otherwise it is as likely an order number.
func detectPhone(s string, i int) int {
	j := i
	intl := s[i] == '+'
	if intl {
		j++
		if j >= len(s) || !isDigit(s[j]) || s[j] == '0' {
			return 0
		}
	}
	r := digitRun(s, j, " -./", true)
	if r.end == 0 || !endsWord(s, r.end) || r.mixed && r.sep != ' ' {
		return 0
	}
	if intl {
		if r.digits > 15 {
			// "+44 20 7946 0958 123": the number is the longest run of
			// whole groups that fits; what follows is other text.
			return intlPrefix(s, j, r.end)
		}
		if r.digits < 8 {
			return 0
		}
		return r.end
	}
	if r.groups < 2 {
		return 0
	}
	// "2024-01-15", "10.0.1.2": a date or a version is a few short groups
	// of which none is 4 digits long at the end with 3-3 before it.
	switch {
	case r.digits == 10 && r.groups == 3 && r.first == 3 && r.second == 3 && r.last == 4 && s[j+boolInt(r.paren)] >= '2':
		return r.end // (555) 123-4567, 555-123-4567, 555.123.4567
	case r.digits == 11 && s[j] == '1' && r.first == 1 && r.groups == 4 && r.second == 3 && r.last == 4:
		return r.end // 1-555-123-4567
	case s[j+boolInt(r.paren)] == '0' && r.digits >= 10 && r.digits <= 12 && r.sep != '.' && r.first >= 2:
		if s[j+boolInt(r.paren)+1] == '0' {
			return 0 // 00 is an international prefix, and 0000 is no number
		}
		return r.end // 020 7946 0958, 06 12 34 56 78, 0151 12345678
	}
	return 0
}

// intlPrefix returns the end of the longest prefix of the digit groups in
// s[j:end] that holds 8 to 15 digits and ends a word, or 0.
func intlPrefix(s string, j, end int) int {
	best, digits := 0, 0
	for k := j; k < end; k++ {
		if isDigit(s[k]) {
			digits++
			continue
		}
		if digits > 15 {
			break
		}
		if digits >= 8 && s[k-1] != '(' && endsWord(s, k) {
			best = k
		}
	}
	return best
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// --- IBAN ---

// detectIBAN matches an IBAN: a country code, two check digits and up to
// 30 letters and digits, compact or in groups of four, whose mod-97
// checksum is 1.
func detectIBAN(s string, i int) int {
	if i+4 > len(s) || !isUpper(s[i]) || !isUpper(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) {
		return 0
	}
	j, n, grouped := i+4, 4, false
	if j < len(s) && s[j] == ' ' {
		grouped = true
	}
	glen := 4
	for j < len(s) && n < 34 {
		c := s[j]
		if isDigit(c) || isUpper(c) {
			j++
			n++
			glen++
			continue
		}
		if grouped && c == ' ' && glen == 4 && j+1 < len(s) && (isDigit(s[j+1]) || isUpper(s[j+1])) {
			j++
			glen = 0
			continue
		}
		break
	}
	if n < 15 || !endsWord(s, j) || (j < len(s) && isAlnum(s[j])) {
		return 0
	}
	if !mod97(s[i:j]) {
		return 0
	}
	return j
}

// mod97 checks an IBAN's checksum: the first four characters moved to
// the end, letters read as 10..35, the number mod 97 must be 1.
func mod97(s string) bool {
	rem := 0
	add := func(c byte) {
		switch {
		case isDigit(c):
			rem = (rem*10 + int(c-'0')) % 97
		case isUpper(c):
			rem = (rem*100 + int(c-'A'+10)) % 97
		}
	}
	for k := 4; k < len(s); k++ {
		add(s[k])
	}
	for k := 0; k < 4; k++ {
		add(s[k])
	}
	return rem == 1
}

// --- secrets ---

func tokenByte(c byte) bool { return class[c] != 0 }

// secretPrefixes are the known key formats and the least number of token
// bytes that must follow the prefix.
var secretPrefixes = [...]struct {
	prefix string
	min    int
}{
	{"sk-", 20},  // OpenAI, Anthropic (sk-ant-), and many copies
	{"ew-", 32},  // edgeway's own virtual keys
	{"AKIA", 16}, // AWS access key ids
	{"ASIA", 16},
	{"ghp_", 30}, // GitHub tokens
	{"gho_", 30},
	{"ghu_", 30},
	{"ghs_", 30},
	{"ghr_", 30},
	{"github_pat_", 40},
	{"glpat-", 20}, // GitLab
	{"xoxb-", 20},  // Slack
	{"xoxp-", 20},
	{"AIza", 30}, // Google API keys
	{"hf_", 30},  // Hugging Face
	{"rk_live_", 20},
	{"sk_live_", 20}, // Stripe
	{"pk_live_", 20},
}

// minSecret is the shortest token any rule above accepts (AKIA and 16).
const minSecret = 20

// minEntropyToken is the least length of an unprefixed token judged by
// its entropy; shorter random strings are too often ids.
const minEntropyToken = 32

// detectSecret matches a known API key format, or a long token of mixed
// letters and digits random enough to be a credential.
func detectSecret(s string, i int) int {
	j := i
	for j < len(s) && tokenByte(s[j]) && j-i < 512 {
		j++
	}
	tok := s[i:j]
	if len(tok) < minSecret {
		return 0 // most words end here
	}
	if end := jwt(s, i, j); end > 0 {
		return end
	}
	if j < len(s) && (s[j] == '@' || s[j] == '.' && j+1 < len(s) && isAlnum(s[j+1])) {
		return 0 // a domain or an address, not a token
	}
	for _, p := range secretPrefixes {
		if len(tok) >= len(p.prefix)+p.min && tok[:len(p.prefix)] == p.prefix && mixedDigits(tok[len(p.prefix):]) {
			return j
		}
	}
	if len(tok) < minEntropyToken {
		return 0
	}
	var up, lo, dg int
	for k := 0; k < len(tok); k++ {
		switch c := tok[k]; {
		case isUpper(c):
			up++
		case isLower(c):
			lo++
		case isDigit(c):
			dg++
		}
	}
	if up < 2 || lo < 2 || dg < 2 {
		return 0 // hex digests, UUIDs and words are not secrets
	}
	if entropy(tok) < 4.0 {
		return 0
	}
	return j
}

// jwt matches a JSON Web Token, header.payload.signature in base64url
// with a header starting {" (eyJ), given its first segment s[i:j].
func jwt(s string, i, j int) int {
	if s[i:i+3] != "eyJ" {
		return 0
	}
	for seg := 0; seg < 2; seg++ {
		if j+1 >= len(s) || s[j] != '.' || !tokenByte(s[j+1]) {
			return 0
		}
		j++
		for j < len(s) && tokenByte(s[j]) {
			j++
		}
	}
	return j
}

// mixedDigits reports whether a prefixed key's body looks random: a
// letter and a digit in it, so "sk-learn-for-beginners-tutorial" is not
// a key.
func mixedDigits(t string) bool {
	var a, d bool
	for k := 0; k < len(t); k++ {
		a = a || isAlpha(t[k])
		d = d || isDigit(t[k])
	}
	return a && d
}

// entropy is the Shannon entropy of t in bits per byte.
func entropy(t string) float64 {
	var counts [128]uint16
	for k := 0; k < len(t); k++ {
		counts[t[k]&0x7f]++
	}
	h, n := 0.0, float64(len(t))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
