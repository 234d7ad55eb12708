package guard

// stemBytes strips common English inflections from a lowercase word in
// place and returns the stem: "values" -> "valu", "deleted" -> "delet",
// "dictionaries" -> "dictionary" -> "dictionary". It is deliberately light
// (plural, -ed, -ing, final e; no derivational suffixes) so two different
// words rarely share a stem: a shared stem would let a prompt about one
// answer another. Words with non-ASCII letters or digits, and words of
// three letters or fewer, are returned unchanged.
func stemBytes(w []byte) []byte {
	if len(w) <= 3 {
		return w
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return w
		}
	}
	n := len(w)
	switch {
	case n > 4 && hasSuffix(w, "ies"), n > 4 && hasSuffix(w, "ied"):
		w = w[:n-2]
		w[len(w)-1] = 'y'
		return w
	case hasSuffix(w, "sses"):
		w = w[:n-2]
	case hasSuffix(w, "xes"), hasSuffix(w, "ches"), hasSuffix(w, "shes"):
		w = w[:n-2]
	case hasSuffix(w, "s") && !hasSuffix(w, "ss") && !hasSuffix(w, "us") && !hasSuffix(w, "is"):
		w = w[:n-1]
	case n > 5 && hasSuffix(w, "ing") && hasVowel(w[:n-3]):
		w = undouble(w[:n-3])
	case n > 4 && hasSuffix(w, "ed") && !hasSuffix(w, "eed") && hasVowel(w[:n-2]):
		w = undouble(w[:n-2])
	}
	if len(w) > 3 && w[len(w)-1] == 'e' {
		w = w[:len(w)-1]
	}
	return w
}

// stem is stemBytes for strings, used to build tables.
func stem(w string) string {
	return string(stemBytes([]byte(w)))
}

func hasSuffix(w []byte, s string) bool {
	return len(w) >= len(s) && string(w[len(w)-len(s):]) == s
}

func hasVowel(w []byte) bool {
	for _, c := range w {
		switch c {
		case 'a', 'e', 'i', 'o', 'u', 'y':
			return true
		}
	}
	return false
}

// undouble turns "runn" into "run" and "stopp" into "stop", keeping the
// doubles English keeps at the end of a word ("install", "miss", "buzz").
func undouble(w []byte) []byte {
	n := len(w)
	if n < 3 || w[n-1] != w[n-2] {
		return w
	}
	switch w[n-1] {
	case 'l', 's', 'z', 'f', 'a', 'e', 'i', 'o', 'u':
		return w
	}
	return w[:n-1]
}
