package wire

// Text is JSON held as bytes or as a string. The scanners here take
// either: the cache key reads tool arguments as strings, and converting
// one to the other would allocate.
type Text interface{ ~string | ~[]byte }

// ScanNumber scans the JSON number at s[i] and returns the offset just
// past it and whether it is an integer (no fraction or exponent). When
// s[i:] holds no valid number, ok is false, end is the offset of the
// offending byte, and why names the digit that is missing ("" when no
// number starts at i).
func ScanNumber[T Text](s T, i int) (end int, integer, ok bool, why string) {
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = digits(s, i)
	default:
		return i, false, false, ""
	}
	integer = true
	if i < len(s) && s[i] == '.' {
		integer = false
		d := i + 1
		if i = digits(s, d); i == d {
			return i, false, false, "expected a digit after the decimal point"
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		integer = false
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		if i = digits(s, d); i == d {
			return i, false, false, "expected a digit in the exponent"
		}
	}
	return i, integer, true, ""
}

// digits returns the offset past the decimal digits at s[i].
func digits[T Text](s T, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// ScanString validates the JSON string whose opening '"' is at s[i] and
// returns the offset just past its closing '"'. When it is not a valid
// string, end is the offset of the offending byte and why says what is
// wrong.
func ScanString[T Text](s T, i int) (end int, why string) {
	for i++; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			return i + 1, ""
		case c < 0x20:
			return i, "control character in string"
		case c == '\\':
			if i+1 >= len(s) {
				return len(s), "unterminated string"
			}
			switch s[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if _, ok := Hex4(s, i+2); !ok {
					return i, "invalid \\u escape in string"
				}
				i += 6
			default:
				return i, "invalid escape in string"
			}
		default:
			i++
		}
	}
	return len(s), "unterminated string"
}

// Hex4 reads the four hex digits of a \u escape at s[i].
func Hex4[T Text](s T, i int) (uint16, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var v uint16
	for j := i; j < i+4; j++ {
		c := s[j]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(c)
	}
	return v, true
}
