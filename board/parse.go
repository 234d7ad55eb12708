package board

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Parsing bounds. Inputs come from files that may be truncated, corrupt or
// (in tests and fuzzing) arbitrary; none of these may panic or allocate
// beyond their input.
const (
	maxModelLen      = 96      // bytes of a cleaned model string
	maxCompatEntries = 32      // entries kept from a compatible list
	maxCompatLen     = 128     // bytes of one compatible entry
	maxCPUs          = 1 << 16 // larger CPU counts are corrupt input
	maxCoreIDs       = 4096    // distinct (physical id, core id) pairs tracked
)

// cpuInfo is what Detect uses from /proc/cpuinfo.
type cpuInfo struct {
	Processors int    // "processor" entries
	Physical   int    // distinct (physical id, core id) pairs; 0 when absent
	Arch       string // runtime.GOARCH spelling, "" when unknown
	ModelName  string // "model name" (x86, some ARM kernels) or old ARM "Processor"
	Model      string // "Model" (Raspberry Pi kernels)
	Hardware   string // "Hardware" (32-bit ARM kernels)
	Implement  string // "CPU implementer", e.g. "0x41"
	Part       string // "CPU part", e.g. "0xd0b"
}

// parseCPUInfo extracts cpuInfo from the contents of /proc/cpuinfo. The
// first occurrence of a per-processor field wins. Unknown lines are
// ignored.
func parseCPUInfo(data []byte) cpuInfo {
	var (
		ci        cpuInfo
		vendor    bool
		flags     string
		features  string
		archField string
		isa       string
		physID    string
		cores     map[string]struct{}
	)
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		key := string(bytes.TrimSpace(k))
		val := strings.TrimSpace(string(v))
		switch key {
		case "processor":
			if _, err := strconv.Atoi(val); err == nil {
				ci.Processors++
			}
		case "vendor_id":
			vendor = vendor || val != ""
		case "flags":
			setOnce(&flags, val)
		case "Features":
			setOnce(&features, val)
		case "CPU architecture":
			setOnce(&archField, val)
		case "isa":
			setOnce(&isa, val)
		case "model name":
			setOnce(&ci.ModelName, val)
		case "Processor":
			setOnce(&ci.ModelName, val)
		case "Model":
			setOnce(&ci.Model, val)
		case "Hardware":
			setOnce(&ci.Hardware, val)
		case "CPU implementer":
			setOnce(&ci.Implement, val)
		case "CPU part":
			setOnce(&ci.Part, val)
		case "physical id":
			physID = val
		case "core id":
			if cores == nil {
				cores = make(map[string]struct{})
			}
			if len(cores) < maxCoreIDs {
				cores[physID+"/"+val] = struct{}{}
			}
		}
	}
	ci.Physical = len(cores)
	ci.Arch = cpuArch(vendor, flags, features, archField, isa, ci.ModelName)
	ci.ModelName = cleanModel([]byte(ci.ModelName))
	ci.Model = cleanModel([]byte(ci.Model))
	ci.Hardware = cleanModel([]byte(ci.Hardware))
	return ci
}

func setOnce(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// cpuArch infers the kernel architecture from cpuinfo fields. x86 kernels
// print vendor_id and flags, ARM kernels "CPU architecture" (8 on arm64,
// 7 or lower on 32-bit kernels even on ARMv8 cores, "AArch64" on early
// arm64 kernels), RISC-V kernels "isa".
func cpuArch(vendor bool, flags, features, archField, isa, modelName string) string {
	switch {
	case vendor || flags != "":
		if hasField(flags, "lm") {
			return "amd64"
		}
		return "386"
	case archField != "":
		if strings.Contains(strings.ToLower(archField), "aarch64") {
			return "arm64"
		}
		if n, ok := leadingInt(archField); ok && n >= 8 {
			return "arm64"
		}
		if hasField(features, "asimd") { // arm64 kernels only; 32-bit says "neon"
			return "arm64"
		}
		return "arm"
	case strings.HasPrefix(isa, "rv64"):
		return "riscv64"
	}
	lm := strings.ToLower(modelName)
	switch {
	case strings.Contains(lm, "aarch64"):
		return "arm64"
	case strings.HasPrefix(lm, "armv"):
		return "arm"
	}
	return ""
}

// hasField reports whether the space-separated list s contains f.
func hasField(s, f string) bool {
	for s != "" {
		var w string
		w, s, _ = strings.Cut(strings.TrimLeft(s, " \t"), " ")
		if w == f {
			return true
		}
	}
	return false
}

// leadingInt parses the decimal digits at the start of s.
func leadingInt(s string) (int, bool) {
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:i])
	return n, err == nil
}

// parseMeminfo returns MemTotal in bytes from the contents of
// /proc/meminfo. ok is false when the line is missing or malformed.
func parseMeminfo(data []byte) (total uint64, ok bool) {
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		rest, found := bytes.CutPrefix(line, []byte("MemTotal:"))
		if !found {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) == 0 || len(f) > 2 {
			return 0, false
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil || n == 0 {
			return 0, false
		}
		mult := uint64(1)
		if len(f) == 2 {
			switch strings.ToLower(f[1]) {
			case "kb":
				mult = 1 << 10
			case "mb":
				mult = 1 << 20
			default:
				return 0, false
			}
		}
		if n > ^uint64(0)/mult {
			return 0, false
		}
		return n * mult, true
	}
	return 0, false
}

// parseCPUList counts the CPUs in a kernel CPU list such as "0-3,5,7-8"
// (sys/devices/system/cpu/online). It returns 0 for anything malformed so
// the caller falls back to another source.
func parseCPUList(data []byte) int {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 0
	}
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 || a >= maxCPUs {
			return 0
		}
		b := a
		if isRange {
			b, err = strconv.Atoi(hi)
			if err != nil || b < a || b >= maxCPUs {
				return 0
			}
		}
		n += b - a + 1
		if n > maxCPUs {
			return 0
		}
	}
	return n
}

// parseL4TMajor returns the L4T major release from the first line of
// /etc/nv_tegra_release ("# R36 (release), REVISION: 3.0, ..." gives 36).
func parseL4TMajor(data []byte) (int, bool) {
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	f := strings.Fields(string(line))
	if len(f) < 2 || f[0] != "#" || !strings.HasPrefix(f[1], "R") {
		return 0, false
	}
	n, ok := leadingInt(f[1][1:])
	if !ok || len(f[1]) > 10 {
		return 0, false
	}
	return n, true
}

// splitCompatible splits a device-tree compatible property (NUL-separated
// strings) into cleaned, lower-case entries.
func splitCompatible(data []byte) []string {
	var out []string
	for len(data) > 0 && len(out) < maxCompatEntries {
		var e []byte
		e, data, _ = bytes.Cut(data, []byte{0})
		if len(e) > maxCompatLen {
			e = e[:maxCompatLen]
		}
		if s := strings.ToLower(cleanModel(e)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// cleanModel turns a device-tree or cpuinfo string into one printable
// line: it stops at the first NUL (device-tree strings are
// NUL-terminated), replaces invalid UTF-8 and non-printable characters
// with spaces, collapses runs of spaces and bounds the length so a banner
// or log line cannot be hijacked by odd file contents.
func cleanModel(data []byte) string {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}
	if len(data) > 4*maxModelLen {
		data = data[:4*maxModelLen]
	}
	var b strings.Builder
	space := false
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		data = data[size:]
		if r == utf8.RuneError || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if b.Len()+1+utf8.RuneLen(r) > maxModelLen {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// armCPUNames names common ARM cores by "implementer/part" as printed in
// /proc/cpuinfo, for a readable Model on boards without a device-tree
// model (ACPI servers).
var armCPUNames = map[string]string{
	"0x41/0xd03": "ARM Cortex-A53",
	"0x41/0xd04": "ARM Cortex-A35",
	"0x41/0xd05": "ARM Cortex-A55",
	"0x41/0xd07": "ARM Cortex-A57",
	"0x41/0xd08": "ARM Cortex-A72",
	"0x41/0xd09": "ARM Cortex-A73",
	"0x41/0xd0a": "ARM Cortex-A75",
	"0x41/0xd0b": "ARM Cortex-A76",
	"0x41/0xd0c": "ARM Neoverse-N1",
	"0x41/0xd0d": "ARM Cortex-A77",
	"0x41/0xd40": "ARM Neoverse-V1",
	"0x41/0xd41": "ARM Cortex-A78",
	"0x41/0xd42": "ARM Cortex-A78AE",
	"0x41/0xd44": "ARM Cortex-X1",
	"0x41/0xd46": "ARM Cortex-A510",
	"0x41/0xd47": "ARM Cortex-A710",
	"0x41/0xd49": "ARM Neoverse-N2",
	"0x41/0xd4f": "ARM Neoverse-V2",
	"0xc0/0xac3": "AmpereOne",
}
