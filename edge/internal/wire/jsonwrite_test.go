package wire

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"
)

// hostile holds every byte class AppendString treats specially.
const hostile = "quote\" backslash\\ nl\n cr\r tab\t nul\x00 esc\x1b del\x7f ls\u2028 ps\u2029 emoji\U0001F600 bad\xffbyte </script>"

func TestAppendString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello", `"hello"`},
		{"empty", "", `""`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"short escapes", "\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"other controls", "\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"DEL passes", "\x7f", "\"\x7f\""},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"multibyte passes", "é€😀", `"é€😀"`},
		{"invalid byte", "a\xffb", `"a\ufffdb"`},
		{"truncated rune", "a\xe2\x82", `"a\ufffd\ufffd"`},
		{"surrogate bytes", "\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
		{"html passes", "<script>&", `"<script>&"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendString(nil, tt.in)
			if string(got) != tt.want {
				t.Errorf("AppendString(%q) = %s, want %s", tt.in, got, tt.want)
			}
			if !json.Valid(got) || !utf8.Valid(got) {
				t.Errorf("output is not valid JSON in UTF-8: %q", got)
			}
		})
	}
}

func TestAppendStringKeepsPrefix(t *testing.T) {
	got := AppendString([]byte(`{"k":`), "v")
	if string(got) != `{"k":"v"` {
		t.Errorf("got %s", got)
	}
}

func TestAppendFloat(t *testing.T) {
	tests := []struct {
		name string
		f    float64
		bits int
		want string
	}{
		{"zero", 0, 64, "0"},
		{"integer", 42, 64, "42"},
		{"fraction", 0.7, 64, "0.7"},
		{"negative", -1.5, 64, "-1.5"},
		{"shortest float32", float64(float32(0.1)), 32, "0.1"},
		{"float32 as float64", float64(float32(0.1)), 64, "0.10000000149011612"},
		{"large exponent", 1e21, 64, "1e+21"},
		{"small exponent", 1e-7, 64, "1e-07"},
		{"NaN", math.NaN(), 64, "0"},
		{"+Inf", math.Inf(1), 64, "0"},
		{"-Inf", math.Inf(-1), 32, "0"},
		{"max float64", math.MaxFloat64, 64, "1.7976931348623157e+308"},
		{"beyond float32", 1e39, 32, "0"},
		{"max float32", math.MaxFloat32, 32, "3.4028235e+38"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendFloat(nil, tt.f, tt.bits)
			if string(got) != tt.want {
				t.Errorf("AppendFloat(%v, %d) = %s, want %s", tt.f, tt.bits, got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not a JSON number: %s", got)
			}
		})
	}
}

func TestAppendAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	allocs := testing.AllocsPerRun(100, func() {
		buf = AppendString(buf[:0], hostile)
		buf = AppendFloat(buf, 0.7, 64)
	})
	if allocs != 0 {
		t.Errorf("AppendString and AppendFloat into a sized buffer: %v allocs, want 0", allocs)
	}
}

func BenchmarkAppendString(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"plain", "The sky is blue because of Rayleigh scattering of sunlight."},
		{"hostile", hostile},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := make([]byte, 0, 1024)
			b.SetBytes(int64(len(bc.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendString(buf[:0], bc.s)
			}
		})
	}
}
