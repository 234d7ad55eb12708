package fakeupstream

import (
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"Hello from the fake upstream.", []string{"Hello", " from", " the", " fake", " upstream."}},
		{"one", []string{"one"}},
		{"  lead and trail  ", []string{"  lead", " and", " trail  "}},
		{"a\n\nb\tc", []string{"a", "\n\nb", "\tc"}},
		{" ", []string{" "}},
	}
	for _, tc := range cases {
		got := SplitWords(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("SplitWords(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplitEven(t *testing.T) {
	cases := []struct {
		in   string
		n    int
		want []string
	}{
		{"abcdefgh", 4, []string{"ab", "cd", "ef", "gh"}},
		{"abcdefg", 3, []string{"ab", "cd", "efg"}},
		{"ab", 5, []string{"a", "b"}},
		{"héllo😀", 3, []string{"hé", "ll", "o😀"}},
		{"", 3, []string{""}},
		{"abc", 0, []string{"abc"}},
	}
	for _, tc := range cases {
		got := SplitEven(tc.in, tc.n)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("SplitEven(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestModes(t *testing.T) {
	type mode int
	const own = mode(ModeOwn)
	m := NewModes("fake", []string{ModeOverloaded: "529", ModeTooLong: "long", own: "mine"}, map[string]mode{"theirs": own})
	for name, want := range map[string]mode{"ok": ModeOK, "529": ModeOverloaded, "LONG": ModeTooLong, " mine ": own,
		"theirs": own, "hang": ModeStall, "context": ModeTooLong, "401": ModeUnauthorized} {
		if got, err := m.Parse(name); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if got := m.Name(ModeCut); got != "cut" {
		t.Errorf("Name(ModeCut) = %q", got)
	}
	if got := m.Name(own + 1); got != "Mode(11)" {
		t.Errorf("Name(own+1) = %q", got)
	}
	if _, err := m.Parse("nope"); err == nil || !strings.HasPrefix(err.Error(), `fake: unknown mode "nope" (want one of ok, refuse, 500, 529,`) {
		t.Errorf("Parse(nope) error %v", err)
	}
}
