package board

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/edgeway/edgeway/edge/testkit"
)

// tree returns the captured tree testdata/<name>.
func tree(t *testing.T, name string) fs.FS {
	t.Helper()
	dir := filepath.Join("testdata", name)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("captured tree: %v", err)
	}
	return os.DirFS(dir)
}

// captured names the trees under testdata read from real boards.
var captured = []string{"rpi5", "rpi4", "rpi3", "jetson-orin-nano", "generic-arm64", "x86"}

// seedCaptured gives f the file at path (slash-separated) of every
// captured tree.
func seedCaptured(f *testing.F, path string) {
	f.Helper()
	for _, name := range captured {
		f.Add(testkit.Fixture(f, filepath.Join(name, filepath.FromSlash(path))))
	}
}

func TestDetectCapturedTrees(t *testing.T) {
	tests := []struct {
		name   string
		want   Profile
		banner string
	}{
		{
			name: "rpi5",
			want: Profile{
				Name: NameRPi5, Model: "Raspberry Pi 5 Model B Rev 1.0", Arch: "arm64",
				Cores: 4, MemTotal: 8245424 << 10,
				LocalMaxInFlight: 2, OllamaNumThread: 3, MaxConcurrency: 64, ThermalLimitC: 80,
			},
			banner: "rpi5 (Raspberry Pi 5 Model B Rev 1.0), 4 cores, 7.9 GiB",
		},
		{
			name: "rpi4",
			want: Profile{
				Name: NameRPi4, Model: "Raspberry Pi 4 Model B Rev 1.1", Arch: "arm",
				Cores: 4, MemTotal: 3884344 << 10,
				LocalMaxInFlight: 1, OllamaNumThread: 3, MaxConcurrency: 64, ThermalLimitC: 80,
			},
			banner: "rpi4 (Raspberry Pi 4 Model B Rev 1.1), 4 cores, 3.7 GiB",
		},
		{
			name: "rpi3",
			want: Profile{
				Name: NameRPi3, Model: "Raspberry Pi 3 Model B Rev 1.2", Arch: "arm",
				Cores: 4, MemTotal: 948304 << 10,
				LocalMaxInFlight: 1, OllamaNumThread: 3, MaxConcurrency: 16, ThermalLimitC: 80,
			},
			banner: "rpi3 (Raspberry Pi 3 Model B Rev 1.2), 4 cores, 0.9 GiB",
		},
		{
			name: "jetson-orin-nano",
			want: Profile{
				Name: NameJetsonOrinNano, Model: "NVIDIA Jetson Orin Nano Developer Kit", Arch: "arm64",
				Cores: 6, MemTotal: 7620244 << 10, GPU: GPUCUDA,
				LocalMaxInFlight: 2, OllamaNumThread: 5, MaxConcurrency: 64, ThermalLimitC: 95,
			},
			banner: "jetson-orin-nano (NVIDIA Jetson Orin Nano Developer Kit), 6 cores, 7.3 GiB, cuda",
		},
		{
			name: "generic-arm64",
			want: Profile{
				Name: NameGenericARM64, Model: "ARM Neoverse-N1", Arch: "arm64",
				Cores: 8, MemTotal: 32221424 << 10,
				LocalMaxInFlight: 2, OllamaNumThread: 7, MaxConcurrency: 64, ThermalLimitC: 85,
			},
			banner: "generic-arm64 (ARM Neoverse-N1), 8 cores, 30.7 GiB",
		},
		{
			name: "x86",
			want: Profile{
				Name: NameX86, Model: "11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz", Arch: "amd64",
				Cores: 8, MemTotal: 16107508 << 10,
				// 4 physical cores behind 8 threads: 3 threads, 1 in flight.
				LocalMaxInFlight: 1, OllamaNumThread: 3, MaxConcurrency: 64, ThermalLimitC: 90,
			},
			banner: "x86 (11th Gen Intel(R) Core(TM) i5-1135G7 @ 2.40GHz), 8 cores, 15.4 GiB",
		},
		{
			name: "empty",
			want: Profile{
				Name:             NameGeneric,
				LocalMaxInFlight: 1, OllamaNumThread: 1, MaxConcurrency: 16, ThermalLimitC: 85,
			},
			banner: "generic, cores unknown, memory unknown",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Detect(tree(t, tt.name))
			if got != tt.want {
				t.Errorf("Detect:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
			if s := got.String(); s != tt.banner {
				t.Errorf("String() = %q, want %q", s, tt.banner)
			}
			checkSane(t, got)
		})
	}
}

// checkSane asserts the invariants every Profile must hold, whatever the
// input.
func checkSane(t *testing.T, p Profile) {
	t.Helper()
	if p.Name == "" {
		t.Error("empty Name")
	}
	if p.LocalMaxInFlight < 1 || p.OllamaNumThread < 1 || p.MaxConcurrency < minMaxConcurrency || p.MaxConcurrency > maxMaxConcurrency {
		t.Errorf("defaults out of range: %s", dump(p))
	}
	if p.ThermalLimitC < 60 || p.ThermalLimitC > 100 {
		t.Errorf("ThermalLimitC = %v", p.ThermalLimitC)
	}
	if p.Cores < 0 || p.Cores > maxCPUs {
		t.Errorf("Cores = %d", p.Cores)
	}
	if len(p.Model) > maxModelLen {
		t.Errorf("Model is %d bytes", len(p.Model))
	}
	s := p.String()
	if strings.ContainsAny(s, "\x00\n\r\x1b") {
		t.Errorf("String() has control characters: %q", s)
	}
}

// dump prints every field of p (Profile's String method hides most).
func dump(p Profile) string {
	type plain Profile
	return fmt.Sprintf("%+v", plain(p))
}

// mapFS builds a tree from path → contents.
func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for name, data := range files {
		m[name] = &fstest.MapFile{Data: []byte(data), Mode: 0o444}
	}
	return m
}

const (
	arm64CPU = "processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n\n" +
		"processor\t: 1\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n"
	arm32CPU = "processor\t: 0\nmodel name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU implementer\t: 0x41\nCPU architecture: 7\nCPU part\t: 0xb76\n"
)

func TestDetectVariants(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		wantName  string
		wantModel string
		wantArch  string
		wantGPU   string
		wantCores int
	}{
		{
			name: "agx orin by compatible",
			files: map[string]string{
				"proc/device-tree/model":      "NVIDIA Jetson AGX Orin Developer Kit\x00",
				"proc/device-tree/compatible": "nvidia,p3737-0000+p3701-0005\x00nvidia,p3701-0005\x00nvidia,tegra234\x00",
				"proc/cpuinfo":                arm64CPU,
			},
			wantName: NameJetsonOrin, wantModel: "NVIDIA Jetson AGX Orin Developer Kit", wantArch: "arm64", wantGPU: GPUCUDA, wantCores: 2,
		},
		{
			name: "orin nano by sku without model",
			files: map[string]string{
				"proc/device-tree/compatible": "nvidia,p3768-0000+p3767-0003\x00nvidia,p3767-0003\x00nvidia,tegra234\x00",
			},
			wantName: NameJetsonOrinNano, wantArch: "arm64", wantGPU: GPUCUDA,
		},
		{
			name: "orin nx by sku",
			files: map[string]string{
				"proc/device-tree/compatible": "nvidia,p3768-0000+p3767-0000\x00nvidia,p3767-0000\x00nvidia,tegra234\x00",
			},
			wantName: NameJetsonOrin, wantArch: "arm64", wantGPU: GPUCUDA,
		},
		{
			name: "xavier nx",
			files: map[string]string{
				"proc/device-tree/model":      "NVIDIA Jetson Xavier NX Developer Kit\x00",
				"proc/device-tree/compatible": "nvidia,p3509-0000+p3668-0001\x00nvidia,tegra194\x00",
				"etc/nv_tegra_release":        "# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref, EABI: aarch64, DATE: Tue Feb 20 04:46:31 UTC 2024\n",
			},
			wantName: NameJetsonXavier, wantModel: "NVIDIA Jetson Xavier NX Developer Kit", wantArch: "arm64", wantGPU: GPUCUDA,
		},
		{
			name: "jetson nano",
			files: map[string]string{
				"proc/device-tree/model":      "NVIDIA Jetson Nano Developer Kit\x00",
				"proc/device-tree/compatible": "nvidia,jetson-nano\x00nvidia,tegra210\x00",
				"etc/nv_tegra_release":        "# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64, DATE: Fri Jun  9 04:25:08 UTC 2023\n",
			},
			wantName: NameJetsonNano, wantModel: "NVIDIA Jetson Nano Developer Kit", wantArch: "arm64", wantGPU: GPUCUDA,
		},
		{
			name: "l4t r36 without device tree",
			files: map[string]string{
				"etc/nv_tegra_release": "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n",
			},
			wantName: NameJetsonOrin, wantArch: "arm64", wantGPU: GPUCUDA,
		},
		{
			name: "unknown tegra",
			files: map[string]string{
				"proc/device-tree/compatible": "nvidia,p3636-0001\x00nvidia,tegra186\x00",
			},
			wantName: NameJetson, wantArch: "arm64", wantGPU: GPUCUDA,
		},
		{
			name: "empty nv_tegra_release still means jetson",
			files: map[string]string{
				"etc/nv_tegra_release": "",
			},
			wantName: NameJetson, wantArch: "arm64", wantGPU: GPUCUDA,
		},
		{
			name:     "pi 400",
			files:    map[string]string{"proc/device-tree/model": "Raspberry Pi 400 Rev 1.0\x00", "proc/cpuinfo": arm64CPU},
			wantName: NameRPi4, wantModel: "Raspberry Pi 400 Rev 1.0", wantArch: "arm64", wantCores: 2,
		},
		{
			name:     "compute module 5",
			files:    map[string]string{"proc/device-tree/model": "Raspberry Pi Compute Module 5 Rev 1.0\x00"},
			wantName: NameRPi5, wantModel: "Raspberry Pi Compute Module 5 Rev 1.0",
		},
		{
			name:     "zero 2 w is a pi 3",
			files:    map[string]string{"proc/device-tree/model": "Raspberry Pi Zero 2 W Rev 1.0\x00"},
			wantName: NameRPi3, wantModel: "Raspberry Pi Zero 2 W Rev 1.0",
		},
		{
			name:     "zero w is generic arm",
			files:    map[string]string{"proc/device-tree/model": "Raspberry Pi Zero W Rev 1.1\x00", "proc/cpuinfo": arm32CPU},
			wantName: NameGenericARM, wantModel: "Raspberry Pi Zero W Rev 1.1", wantArch: "arm", wantCores: 1,
		},
		{
			name:     "pi by compatible only",
			files:    map[string]string{"proc/device-tree/compatible": "raspberrypi,5-model-b\x00brcm,bcm2712\x00"},
			wantName: NameRPi5,
		},
		{
			name: "pi model from cpuinfo when device tree is hidden",
			files: map[string]string{
				"proc/cpuinfo": arm64CPU + "\nRevision\t: d04170\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n",
			},
			wantName: NameRPi5, wantModel: "Raspberry Pi 5 Model B Rev 1.0", wantArch: "arm64", wantCores: 2,
		},
		{
			name: "device tree under sys/firmware",
			files: map[string]string{
				"sys/firmware/devicetree/base/model":      "Radxa ROCK 5B\x00",
				"sys/firmware/devicetree/base/compatible": "radxa,rock-5b\x00rockchip,rk3588\x00",
				"proc/cpuinfo": arm64CPU,
			},
			wantName: NameGenericARM64, wantModel: "Radxa ROCK 5B", wantArch: "arm64", wantCores: 2,
		},
		{
			name:     "x86 with nvidia driver",
			files:    map[string]string{"proc/cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD Ryzen 7 5800X 8-Core Processor\nflags\t\t: fpu lm sse2\n", "proc/driver/nvidia/version": "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\n"},
			wantName: NameX86, wantModel: "AMD Ryzen 7 5800X 8-Core Processor", wantArch: "amd64", wantGPU: GPUCUDA, wantCores: 1,
		},
		{
			name:     "32-bit x86",
			files:    map[string]string{"proc/cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu pae sse2\n"},
			wantName: NameX86, wantArch: "386", wantCores: 1,
		},
		{
			name:     "riscv64",
			files:    map[string]string{"proc/cpuinfo": "processor\t: 0\nhart\t\t: 0\nisa\t\t: rv64imafdc_zicntr_zicsr\nmmu\t\t: sv39\n"},
			wantName: NameGeneric, wantArch: "riscv64", wantCores: 1,
		},
		{
			name:     "online list wins over cpuinfo",
			files:    map[string]string{"proc/cpuinfo": arm64CPU, "sys/devices/system/cpu/online": "0-3,6\n"},
			wantName: NameGenericARM64, wantModel: "ARM Cortex-A72", wantArch: "arm64", wantCores: 5,
		},
		{
			name:     "malformed online list falls back to cpuinfo",
			files:    map[string]string{"proc/cpuinfo": arm64CPU, "sys/devices/system/cpu/online": "0-\n"},
			wantName: NameGenericARM64, wantModel: "ARM Cortex-A72", wantArch: "arm64", wantCores: 2,
		},
		{
			name: "model with control characters and no NUL",
			files: map[string]string{
				"proc/device-tree/model": "Evil\x1b[2J Board\r\n\tv2\xff",
			},
			wantName: NameGeneric, wantModel: "Evil [2J Board v2",
		},
		{
			name:     "model of NULs only",
			files:    map[string]string{"proc/device-tree/model": "\x00\x00\x00"},
			wantName: NameGeneric,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Detect(mapFS(tt.files))
			if got.Name != tt.wantName || got.Model != tt.wantModel || got.Arch != tt.wantArch || got.GPU != tt.wantGPU || got.Cores != tt.wantCores {
				t.Errorf("Detect = %s\nwant Name %q Model %q Arch %q GPU %q Cores %d", dump(got), tt.wantName, tt.wantModel, tt.wantArch, tt.wantGPU, tt.wantCores)
			}
			checkSane(t, got)
		})
	}
}

func TestDetectOddFiles(t *testing.T) {
	huge := strings.Repeat("A", 1<<20)
	tests := []struct {
		name  string
		fsys  fs.FS
		check func(t *testing.T, p Profile)
	}{
		{
			name: "nil fs",
			fsys: nil,
			check: func(t *testing.T, p Profile) {
				if p.Name != NameGeneric {
					t.Errorf("Name = %q", p.Name)
				}
			},
		},
		{
			name: "files are directories",
			fsys: fstest.MapFS{
				"proc/device-tree/model/x": {Data: []byte("no")},
				"proc/cpuinfo/x":           {Data: []byte("no")},
				"proc/meminfo/x":           {Data: []byte("no")},
				"etc/nv_tegra_release/x":   {Data: []byte("no")},
			},
			check: func(t *testing.T, p Profile) {
				if p.Name != NameGeneric || p.GPU != "" || p.MemTotal != 0 {
					t.Errorf("got %s", dump(p))
				}
			},
		},
		{
			name: "non-regular files are not opened",
			fsys: fstest.MapFS{
				"proc/meminfo": {Data: []byte("MemTotal: 1024 kB\n"), Mode: fs.ModeNamedPipe},
			},
			check: func(t *testing.T, p Profile) {
				if p.MemTotal != 0 {
					t.Errorf("read a named pipe: MemTotal = %d", p.MemTotal)
				}
			},
		},
		{
			name: "huge model is bounded",
			fsys: mapFS(map[string]string{"proc/device-tree/model": huge}),
			check: func(t *testing.T, p Profile) {
				if len(p.Model) == 0 || len(p.Model) > maxModelLen {
					t.Errorf("Model is %d bytes", len(p.Model))
				}
			},
		},
		{
			name: "MemTotal past the read bound is not seen",
			fsys: mapFS(map[string]string{"proc/meminfo": strings.Repeat("Junk: 1 kB\n", maxSmallRead/10) + "MemTotal: 1024 kB\n"}),
			check: func(t *testing.T, p Profile) {
				if p.MemTotal != 0 {
					t.Errorf("MemTotal = %d, want 0 (beyond the bound)", p.MemTotal)
				}
			},
		},
		{
			name: "garbage everywhere",
			fsys: mapFS(map[string]string{
				"proc/device-tree/model":        "\xff\xfe\x00",
				"proc/device-tree/compatible":   "\x00\x00,,\x00nvidia,\x00",
				"proc/cpuinfo":                  ":::\n\x00processor: x\nCPU architecture: -1\n",
				"proc/meminfo":                  "MemTotal: 99999999999999999999999 kB\n",
				"sys/devices/system/cpu/online": "3-1",
				"etc/nv_tegra_release":          "#",
			}),
			check: func(t *testing.T, p Profile) {
				if p.Name != NameJetson || p.MemTotal != 0 || p.Cores != 0 {
					t.Errorf("got %s", dump(p))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Detect(tt.fsys)
			tt.check(t, p)
			checkSane(t, p)
		})
	}
}

func TestDetectHost(t *testing.T) {
	p := DetectHost()
	t.Logf("DetectHost: %s", p)
	t.Logf("DetectHost: %s", dump(p))
	checkSane(t, p)
	if p.Arch == "" {
		t.Error("Arch empty: should fall back to runtime.GOARCH")
	}
	if p.Cores < 1 {
		t.Errorf("Cores = %d: should fall back to runtime.NumCPU", p.Cores)
	}
	if runtime.GOOS == "linux" && p.MemTotal == 0 {
		t.Error("MemTotal = 0 on linux")
	}
}

func TestDetectFallbacks(t *testing.T) {
	// What DetectHost does on a host with no /proc (macOS, a sandbox).
	p := detect(fstest.MapFS{}, "arm64", 10)
	if p.Name != NameGenericARM64 || p.Arch != "arm64" || p.Cores != 10 || p.OllamaNumThread != 9 {
		t.Errorf("got %s", dump(p))
	}
	// Detected values win over the fallbacks.
	p = detect(tree(t, "rpi4"), "amd64", 64)
	if p.Name != NameRPi4 || p.Arch != "arm" || p.Cores != 4 {
		t.Errorf("got %s", dump(p))
	}
}

func TestProfileDefaults(t *testing.T) {
	tests := []struct {
		name                   string
		p                      Profile
		physical               int
		local, threads, maxCon int
		thermal                float64
	}{
		{"rpi5 2GB gets one slot", Profile{Name: NameRPi5, Cores: 4, MemTotal: 2 * gib * 95 / 100}, 0, 1, 3, 32, 80},
		{"rpi5 4GB gets two", Profile{Name: NameRPi5, Cores: 4, MemTotal: 4 * gib * 95 / 100}, 0, 2, 3, 64, 80},
		{"rpi4 8GB still one", Profile{Name: NameRPi4, Cores: 4, MemTotal: 8 * gib * 95 / 100}, 0, 1, 3, 64, 80},
		{"orin nano 4GB", Profile{Name: NameJetsonOrinNano, Cores: 6, MemTotal: 4 * gib * 90 / 100}, 0, 1, 5, 64, 95},
		{"agx orin", Profile{Name: NameJetsonOrin, Cores: 12, MemTotal: 64 * gib}, 0, 4, 11, 64, 95},
		{"xavier", Profile{Name: NameJetsonXavier, Cores: 6, MemTotal: 8 * gib}, 0, 2, 5, 64, 90},
		{"jetson nano", Profile{Name: NameJetsonNano, Cores: 4, MemTotal: 4 * gib}, 0, 1, 3, 64, 90},
		{"big x86 server", Profile{Name: NameX86, Cores: 64, MemTotal: 256 * gib}, 32, 4, 31, 64, 90},
		{"two-core vm", Profile{Name: NameX86, Cores: 2, MemTotal: 24 * gib}, 2, 1, 1, 64, 90},
		{"physical above online is capped", Profile{Name: NameGenericARM64, Cores: 2, MemTotal: 8 * gib}, 16, 1, 1, 64, 85},
		{"half a GiB", Profile{Name: NameGenericARM, Cores: 1, MemTotal: gib / 2}, 0, 1, 1, 16, 85},
		{"tiny memory", Profile{Name: NameGenericARM, Cores: 1, MemTotal: 1 << 20}, 0, 1, 1, 16, 85},
		{"absurd memory", Profile{Name: NameGeneric, Cores: 1, MemTotal: ^uint64(0)}, 0, 1, 1, 64, 85},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.p
			p.applyDefaults(tt.physical)
			if p.LocalMaxInFlight != tt.local || p.OllamaNumThread != tt.threads || p.MaxConcurrency != tt.maxCon || p.ThermalLimitC != tt.thermal {
				t.Errorf("got local %d threads %d maxcon %d thermal %v, want %d %d %d %v",
					p.LocalMaxInFlight, p.OllamaNumThread, p.MaxConcurrency, p.ThermalLimitC,
					tt.local, tt.threads, tt.maxCon, tt.thermal)
			}
		})
	}
}

func TestProfileString(t *testing.T) {
	tests := []struct {
		name string
		p    Profile
		want string
	}{
		{"zero value", Profile{}, "generic, cores unknown, memory unknown"},
		{"one core no model", Profile{Name: NameGenericARM, Cores: 1, MemTotal: 512 << 20}, "generic-arm, 1 core, 0.5 GiB"},
		{"jetson", Profile{Name: NameJetsonOrin, Model: "NVIDIA Jetson AGX Orin Developer Kit", Cores: 12, MemTotal: 64 * gib, GPU: GPUCUDA},
			"jetson-orin (NVIDIA Jetson AGX Orin Developer Kit), 12 cores, 64.0 GiB, cuda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzDetect builds a tree from arbitrary file contents and checks that
// Detect and Temperature never panic and always return sane defaults.
func FuzzDetect(f *testing.F) {
	for _, name := range captured {
		read := func(p string) []byte {
			b, _ := os.ReadFile(filepath.Join("testdata", name, filepath.FromSlash(p)))
			return b
		}
		f.Add(read("proc/device-tree/model"), read("proc/device-tree/compatible"), read("etc/nv_tegra_release"),
			read("proc/cpuinfo"), read("proc/meminfo"), read("sys/devices/system/cpu/online"),
			read("sys/class/thermal/thermal_zone0/temp"))
	}
	f.Fuzz(func(t *testing.T, model, compat, tegra, cpuinfo, meminfo, online, temp []byte) {
		m := fstest.MapFS{
			// A directory where a file belongs.
			"sys/class/thermal/thermal_zone12/temp/x": {Data: []byte("x")},
		}
		for name, data := range map[string][]byte{
			"proc/device-tree/model":               model,
			"proc/device-tree/compatible":          compat,
			"proc/cpuinfo":                         cpuinfo,
			"proc/meminfo":                         meminfo,
			"sys/devices/system/cpu/online":        online,
			"sys/class/thermal/thermal_zone0/temp": temp,
			"sys/class/thermal/thermal_zone1/temp": bytes.ToUpper(temp),
		} {
			m[name] = &fstest.MapFile{Data: data}
		}
		if len(tegra) > 0 {
			m["etc/nv_tegra_release"] = &fstest.MapFile{Data: tegra}
		}
		p := Detect(m)
		checkSane(t, p)
		if c, ok := Temperature(m); ok && (c < minPlausibleC || c > maxPlausibleC) {
			t.Errorf("Temperature = %v", c)
		}
	})
}
