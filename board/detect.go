package board

import (
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
)

// Read bounds per file. procfs and sysfs report size 0 and some files are
// unbounded or odd, so every read is capped; a truncated file only makes
// the guess less specific.
const (
	maxSmallRead   = 64 << 10 // model, compatible, nv_tegra_release, meminfo, cpu list
	maxCPUInfoRead = 1 << 20  // cpuinfo runs ~1.5 KiB per x86 CPU: ~700 CPUs fit
	maxTempRead    = 64       // a thermal zone temp is a short integer
)

// Detect reads fsys (a tree rooted like "/", paths without a leading
// slash) and returns its best guess of the device with defaults derived
// from it. It never fails and never panics: missing or unreadable files
// leave fields at their zero value, and the defaults are then those of
// the smallest device edgeway targets. A nil fsys is an empty tree.
func Detect(fsys fs.FS) Profile {
	return detect(fsys, "", 0)
}

// DetectHost is Detect(os.DirFS("/")) with Arch falling back to
// runtime.GOARCH and Cores to runtime.NumCPU() when the files say nothing
// (on macOS, say, or in a sandbox without /proc).
func DetectHost() Profile {
	return detect(os.DirFS("/"), runtime.GOARCH, runtime.NumCPU())
}

func detect(fsys fs.FS, fallbackArch string, fallbackCores int) Profile {
	var p Profile
	if fsys == nil {
		fsys = emptyFS{}
	}

	modelRaw, _ := readFirst(fsys, maxSmallRead, "proc/device-tree/model", "sys/firmware/devicetree/base/model")
	compatRaw, _ := readFirst(fsys, maxSmallRead, "proc/device-tree/compatible", "sys/firmware/devicetree/base/compatible")
	tegraRaw, isL4T := readFile(fsys, "etc/nv_tegra_release", maxSmallRead)
	cpuRaw, _ := readFile(fsys, "proc/cpuinfo", maxCPUInfoRead)
	memRaw, _ := readFile(fsys, "proc/meminfo", maxSmallRead)
	onlineRaw, _ := readFile(fsys, "sys/devices/system/cpu/online", maxSmallRead)
	_, nvidiaDriver := readFile(fsys, "proc/driver/nvidia/version", maxSmallRead)

	model := cleanModel(modelRaw)
	compat := splitCompatible(compatRaw)
	cpu := parseCPUInfo(cpuRaw)
	p.MemTotal, _ = parseMeminfo(memRaw)
	p.Cores = parseCPUList(onlineRaw)
	if p.Cores == 0 {
		p.Cores = cpu.Processors
	}
	if p.Cores == 0 {
		p.Cores = fallbackCores
	}
	p.Arch = cpu.Arch
	if model == "" {
		model = cpu.Model // Raspberry Pi kernels repeat the board model here
	}
	p.Model = model

	switch {
	case isL4T || hasPrefix(compat, "nvidia,tegra"):
		l4t, _ := parseL4TMajor(tegraRaw)
		p.Name = jetsonName(model, compat, l4t)
		p.GPU = GPUCUDA
		if p.Arch == "" {
			p.Arch = "arm64" // every L4T release since the TX1 is aarch64
		}
	case isRaspberryPi(model, compat):
		p.Name = rpiName(model, compat)
	}
	if nvidiaDriver {
		p.GPU = GPUCUDA
	}
	if p.Arch == "" {
		p.Arch = fallbackArch
	}
	if p.Name == "" {
		p.Name = archName(p.Arch)
	}
	if p.Model == "" {
		p.Model = cpuModel(cpu)
	}
	p.applyDefaults(cpu.Physical)
	return p
}

// jetsonName tells Jetson families apart by the model string first (it
// says "Orin Nano", "Xavier" plainly), then the SoC in compatible, then
// the L4T release.
func jetsonName(model string, compat []string, l4t int) string {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "orin nano"):
		return NameJetsonOrinNano
	case strings.Contains(m, "orin"):
		return NameJetsonOrin
	case strings.Contains(m, "xavier"):
		return NameJetsonXavier
	case strings.Contains(m, "jetson nano"):
		return NameJetsonNano
	}
	switch {
	case has(compat, "nvidia,tegra234"):
		// p3767 modules 0003-0005 are Orin Nano, 0000-0001 Orin NX.
		for _, sku := range []string{"nvidia,p3767-0003", "nvidia,p3767-0004", "nvidia,p3767-0005"} {
			if has(compat, sku) {
				return NameJetsonOrinNano
			}
		}
		return NameJetsonOrin
	case has(compat, "nvidia,tegra194"):
		return NameJetsonXavier
	case has(compat, "nvidia,tegra210"):
		return NameJetsonNano
	case len(compat) == 0 && l4t == 36:
		return NameJetsonOrin // JetPack 6 supports only Orin
	}
	return NameJetson
}

func isRaspberryPi(model string, compat []string) bool {
	return strings.HasPrefix(model, "Raspberry Pi") || hasPrefix(compat, "raspberrypi,")
}

// rpiName maps a Raspberry Pi model string ("Raspberry Pi 4 Model B Rev
// 1.1", "Raspberry Pi Compute Module 5 Rev 1.0", "Raspberry Pi 400 Rev
// 1.0", "Raspberry Pi Zero 2 W Rev 1.0") or its SoC to a profile name.
// Models before the Pi 3 (Pi 1, Pi 2, Zero) are generic ARM boards.
func rpiName(model string, compat []string) string {
	rest, ok := strings.CutPrefix(model, "Raspberry Pi ")
	if ok {
		rest = strings.TrimPrefix(rest, "Compute Module ")
		switch {
		case strings.HasPrefix(rest, "5"):
			return NameRPi5
		case strings.HasPrefix(rest, "4"):
			return NameRPi4
		case strings.HasPrefix(rest, "3"), strings.HasPrefix(rest, "Zero 2"):
			return NameRPi3 // the Zero 2 W carries the Pi 3's BCM2710
		}
	}
	switch {
	case has(compat, "brcm,bcm2712"):
		return NameRPi5
	case has(compat, "brcm,bcm2711"):
		return NameRPi4
	case has(compat, "brcm,bcm2837"):
		return NameRPi3
	}
	return ""
}

func archName(arch string) string {
	switch arch {
	case "amd64", "386":
		return NameX86
	case "arm64":
		return NameGenericARM64
	case "arm":
		return NameGenericARM
	}
	return NameGeneric
}

// cpuModel names the CPU when there is no board model: the x86 "model
// name", else the ARM core from implementer and part, else whatever the
// kernel printed.
func cpuModel(ci cpuInfo) string {
	if ci.Implement != "" && ci.Part != "" {
		if n, ok := armCPUNames[strings.ToLower(ci.Implement)+"/"+strings.ToLower(ci.Part)]; ok {
			return n
		}
	}
	return ci.ModelName
}

func has(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func hasPrefix(list []string, prefix string) bool {
	for _, e := range list {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// readFirst returns the first of names that readFile can read.
func readFirst(fsys fs.FS, limit int64, names ...string) ([]byte, bool) {
	for _, n := range names {
		if b, ok := readFile(fsys, n, limit); ok {
			return b, true
		}
	}
	return nil, false
}

// readFile reads at most limit bytes of name. Only regular files are
// opened (following symlinks, as /proc/device-tree is one), so a FIFO or
// device node in a tree cannot block. ok is false when nothing could be
// read; a read error after some bytes keeps those bytes.
func readFile(fsys fs.FS, name string, limit int64) (data []byte, ok bool) {
	fi, err := fs.Stat(fsys, name)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, false
	}
	f, err := fsys.Open(name)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	data, err = io.ReadAll(io.LimitReader(f, limit))
	if err != nil && len(data) == 0 {
		return nil, false
	}
	return data, true
}

// emptyFS is a file system with no files.
type emptyFS struct{}

func (emptyFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}
