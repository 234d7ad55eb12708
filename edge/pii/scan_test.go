package pii

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// fixture is one labelled case of testdata/fixtures.jsonl: a text and
// every finding it holds, by kind and value.
type fixture struct {
	Text string `json:"text"`
	Want []struct {
		Kind  string `json:"kind"`
		Value string `json:"value"`
	} `json:"want"`
}

func loadFixtures(t testing.TB) []fixture {
	t.Helper()
	f, err := os.Open("testdata/fixtures.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fixture
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var fx fixture
		if err := json.Unmarshal(sc.Bytes(), &fx); err != nil {
			t.Fatalf("fixtures.jsonl:%d: %v", line, err)
		}
		out = append(out, fx)
	}
	return out
}

// minPrecision and minRecall are what every kind must reach on the
// fixture set.
const (
	minPrecision = 0.95
	minRecall    = 0.95
)

// TestFixtures measures precision and recall per kind on the labelled
// set: a finding counts as right only with the labelled kind and exact
// value.
func TestFixtures(t *testing.T) {
	fxs := loadFixtures(t)
	if len(fxs) < 150 {
		t.Fatalf("%d fixtures, want at least 150", len(fxs))
	}
	var tp, fp, fn [numKinds]int
	negatives := 0
	for _, fx := range fxs {
		want := map[string]bool{}
		for _, w := range fx.Want {
			if _, ok := ParseKind(w.Kind); !ok {
				t.Fatalf("%q: unknown kind %q", fx.Text, w.Kind)
			}
			want[w.Kind+"\x00"+w.Value] = true
		}
		if len(fx.Want) == 0 {
			negatives++
		}
		for _, f := range Scan(nil, fx.Text) {
			k := f.Kind.String() + "\x00" + fx.Text[f.Start:f.End]
			if want[k] {
				tp[f.Kind]++
				delete(want, k)
			} else {
				fp[f.Kind]++
				t.Logf("false positive %s %q in %q", f.Kind, fx.Text[f.Start:f.End], fx.Text)
			}
		}
		for k := range want {
			kind, _ := ParseKind(k[:strings.IndexByte(k, 0)])
			fn[kind]++
			t.Logf("missed %s %q in %q", kind, k[strings.IndexByte(k, 0)+1:], fx.Text)
		}
	}
	t.Logf("%d cases, %d without personal data", len(fxs), negatives)
	for k := Email; k < numKinds; k++ {
		p := ratio(tp[k], tp[k]+fp[k])
		r := ratio(tp[k], tp[k]+fn[k])
		t.Logf("%-8s precision %.3f (%d/%d)  recall %.3f (%d/%d)", k, p, tp[k], tp[k]+fp[k], r, tp[k], tp[k]+fn[k])
		if tp[k]+fn[k] < 10 {
			t.Errorf("%s: only %d labelled findings, want at least 10", k, tp[k]+fn[k])
		}
		if p < minPrecision || r < minRecall {
			t.Errorf("%s: precision %.3f, recall %.3f; want at least %.2f and %.2f", k, p, r, minPrecision, minRecall)
		}
	}
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
