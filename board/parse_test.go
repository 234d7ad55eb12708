package board

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/testkit"
)

// okCase is a file's contents and the value and ok a parser must
// return for them.
type okCase[T comparable] struct {
	name, in string
	want     T
	wantOK   bool
}

func checkParse[T comparable](t *testing.T, fname string, parse func([]byte) (T, bool), tests []okCase[T]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parse([]byte(tt.in))
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("%s = %v, %v; want %v, %v", fname, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseMeminfo(t *testing.T) {
	checkParse(t, "parseMeminfo", parseMeminfo, []okCase[uint64]{
		{"kernel format", "MemTotal:        8245424 kB\nMemFree:         6912384 kB\n", 8245424 << 10, true},
		{"not first line", "MemFree: 1 kB\nMemTotal: 2048 kB\n", 2 << 20, true},
		{"no unit", "MemTotal: 4096\n", 4096, true},
		{"no trailing newline", "MemTotal: 1 kB", 1024, true},
		{"missing", "MemFree: 1 kB\n", 0, false},
		{"empty", "", 0, false},
		{"zero", "MemTotal: 0 kB\n", 0, false},
		{"negative", "MemTotal: -5 kB\n", 0, false},
		{"not a number", "MemTotal: lots kB\n", 0, false},
		{"unknown unit", "MemTotal: 5 parsecs\n", 0, false},
		{"extra fields", "MemTotal: 5 kB kB\n", 0, false},
		{"overflow after unit", "MemTotal: 18014398509481984 kB\n", 0, false},
		{"overflow", "MemTotal: 99999999999999999999999 kB\n", 0, false},
		{"prefix must start the line", " xMemTotal: 5 kB\n", 0, false},
	})
}

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"0-3\n", 4},
		{"0", 1},
		{"0-3,5,7-8", 7},
		{"0-5\n", 6},
		{"", 0},
		{"\n", 0},
		{"3-1", 0},
		{"0-", 0},
		{"-1", 0},
		{"a-b", 0},
		{"0,,1", 0},
		{"0-65535", 65536},
		{"0-65536", 0},
		{"0-65535,0-65535", 0},
		{"0-999999999999999999999", 0},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := parseCPUList([]byte(tt.in)); got != tt.want {
				t.Errorf("parseCPUList(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseCPUInfo(t *testing.T) {
	read := func(name string) []byte { return testkit.Fixture(t, filepath.Join(name, "proc", "cpuinfo")) }
	tests := []struct {
		name string
		in   []byte
		want cpuInfo
	}{
		{"rpi5", read("rpi5"), cpuInfo{Processors: 4, Arch: "arm64", Model: "Raspberry Pi 5 Model B Rev 1.0", Implement: "0x41", Part: "0xd0b"}},
		{"rpi4 32-bit", read("rpi4"), cpuInfo{Processors: 4, Arch: "arm", ModelName: "ARMv7 Processor rev 3 (v7l)", Model: "Raspberry Pi 4 Model B Rev 1.1", Hardware: "BCM2711", Implement: "0x41", Part: "0xd08"}},
		{"orin nano", read("jetson-orin-nano"), cpuInfo{Processors: 6, Arch: "arm64", ModelName: "ARMv8 Processor rev 1 (v8l)", Implement: "0x41", Part: "0xd42"}},
		{"x86 with SMT", read("x86"), cpuInfo{Processors: 8, Physical: 4, Arch: "amd64", ModelName: "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz"}},
		{"early arm64 kernel", []byte("Processor\t: AArch64 Processor rev 4 (aarch64)\nprocessor\t: 0\nFeatures\t: fp asimd\nCPU architecture: AArch64\n"),
			cpuInfo{Processors: 1, Arch: "arm64", ModelName: "AArch64 Processor rev 4 (aarch64)"}},
		{"arm64 features without a number", []byte("processor: 0\nFeatures: fp asimd evtstrm\nCPU architecture: ?\n"), cpuInfo{Processors: 1, Arch: "arm64"}},
		{"model name alone", []byte("model name: ARMv7 Processor rev 5 (v7l)\n"), cpuInfo{Arch: "arm", ModelName: "ARMv7 Processor rev 5 (v7l)"}},
		{"empty", nil, cpuInfo{}},
		{"non-numeric processor", []byte("processor: zero\n"), cpuInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseCPUInfo(tt.in); got != tt.want {
				t.Errorf("parseCPUInfo:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseL4TMajor(t *testing.T) {
	checkParse(t, "parseL4TMajor", parseL4TMajor, []okCase[int]{
		{"R36 with kernel variant", "# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64, DATE: Mon May  6 17:34:21 UTC 2024\n# KERNEL_VARIANT: oot\n", 36, true},
		{"R32 without newline", "# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64, DATE: Fri Jun  9 04:25:08 UTC 2023", 32, true},
		{"empty", "", 0, false},
		{"hash only", "#", 0, false},
		{"no number", "# Rx (release)", 0, false},
		{"no hash", "R36", 0, false},
		{"overflow", "# R99999999999999999999", 0, false},
	})
}

func TestCleanModel(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"nul terminated", "Raspberry Pi 5 Model B Rev 1.0\x00", "Raspberry Pi 5 Model B Rev 1.0"},
		{"stops at first nul", "first\x00second\x00", "first"},
		{"trailing newline", "Radxa ROCK 5B\n", "Radxa ROCK 5B"},
		{"control characters", "a\x1b[31mb\tc\r\nd", "a [31mb c d"},
		{"invalid utf8", "a\xff\xfeb", "a b"},
		{"unicode kept", "Bärboard ✓", "Bärboard ✓"},
		{"only spaces", " \t\n", ""},
		{"long is bounded", strings.Repeat("ab ", 200), strings.TrimSpace(strings.Repeat("ab ", 32))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanModel([]byte(tt.in)); got != tt.want {
				t.Errorf("cleanModel(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestSplitCompatible(t *testing.T) {
	got := splitCompatible([]byte("nvidia,p3768-0000+p3767-0005\x00nvidia,p3767-0005\x00NVIDIA,Tegra234\x00\x00"))
	want := []string{"nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitCompatible = %q, want %q", got, want)
	}
	if n := len(splitCompatible([]byte(strings.Repeat("x\x00", 1000)))); n != maxCompatEntries {
		t.Errorf("%d entries kept, want %d", n, maxCompatEntries)
	}
}

func FuzzParseMeminfo(f *testing.F) {
	seedCaptured(f, "proc/meminfo")
	f.Add([]byte("MemTotal: 18446744073709551615 kB\n"))
	f.Add([]byte("MemTotal:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		total, ok := parseMeminfo(data)
		if ok != (total > 0) {
			t.Errorf("parseMeminfo = %d, %v", total, ok)
		}
	})
}

func FuzzParseCPUInfo(f *testing.F) {
	seedCaptured(f, "proc/cpuinfo")
	f.Add([]byte("processor: 0\nphysical id: 0\ncore id: 0\nCPU architecture: AArch64\nisa: rv64\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ci := parseCPUInfo(data)
		if ci.Processors < 0 || ci.Physical < 0 || ci.Physical > maxCoreIDs {
			t.Errorf("counts out of range: %+v", ci)
		}
		for _, s := range []string{ci.ModelName, ci.Model, ci.Hardware} {
			if len(s) > maxModelLen || !utf8.ValidString(s) {
				t.Errorf("unclean string %q", s)
			}
		}
		switch ci.Arch {
		case "", "amd64", "386", "arm64", "arm", "riscv64":
		default:
			t.Errorf("Arch = %q", ci.Arch)
		}
	})
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0-3\n", "0", "0-3,5,7-8", "", "3-1", "0-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n := parseCPUList([]byte(s)); n < 0 || n > maxCPUs {
			t.Errorf("parseCPUList(%q) = %d", s, n)
		}
	})
}
