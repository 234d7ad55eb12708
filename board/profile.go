package board

import (
	"strconv"
	"strings"
)

// Profile names. Consumers compare Profile.Name against these rather than
// string literals.
const (
	NameJetsonOrinNano = "jetson-orin-nano"
	NameJetsonOrin     = "jetson-orin" // Orin NX and AGX Orin
	NameJetsonXavier   = "jetson-xavier"
	NameJetsonNano     = "jetson-nano"
	NameJetson         = "jetson" // a Tegra board not recognised more closely (TX2, Thor, ...)
	NameRPi5           = "rpi5"
	NameRPi4           = "rpi4"
	NameRPi3           = "rpi3"
	NameGenericARM64   = "generic-arm64"
	NameGenericARM     = "generic-arm"
	NameX86            = "x86"
	NameGeneric        = "generic" // architecture unknown or unusual (riscv64, ...)
)

// GPUCUDA is Profile.GPU on boards with an NVIDIA GPU (every Jetson).
const GPUCUDA = "cuda"

// Profile is what edgeway knows about the device it runs on, and the
// defaults that follow from it. The package documentation explains each
// default. A Profile is a plain value, safe to copy and share.
type Profile struct {
	// Name is one of the Name constants.
	Name string
	// Model is the human-readable model as read, cleaned of control
	// characters and bounded in length ("Raspberry Pi 5 Model B Rev 1.0",
	// "NVIDIA Jetson Orin Nano Developer Kit", a CPU model on x86). It may
	// be empty.
	Model string
	// Arch is the detected architecture in runtime.GOARCH spelling
	// ("arm64", "arm", "amd64", "386", "riscv64"), empty when unknown. It
	// describes the kernel, which may differ from the binary (a 32-bit
	// userland on an arm64 kernel reports "arm64").
	Arch string
	// Cores is the number of online CPUs, 0 when unknown.
	Cores int
	// MemTotal is MemTotal from /proc/meminfo in bytes, 0 when unknown.
	MemTotal uint64
	// GPU is GPUCUDA on Jetsons and hosts with the NVIDIA driver loaded,
	// else empty.
	GPU string

	// LocalMaxInFlight is how many concurrent requests the local runtime
	// takes before it counts as busy. Always at least 1.
	LocalMaxInFlight int
	// OllamaNumThread is the suggested num_thread for the local runtime.
	// Always at least 1.
	OllamaNumThread int
	// MaxConcurrency is the suggested gateway-wide request cap. Always at
	// least 8.
	MaxConcurrency int
	// ThermalLimitC is the temperature in °C above which the local runtime
	// counts as too hot.
	ThermalLimitC float64
}

// String returns one line for the startup banner, for example
// "rpi5 (Raspberry Pi 5 Model B Rev 1.0), 4 cores, 7.9 GiB". Memory is in
// binary gigabytes of MemTotal, which is a little below the nominal size
// because firmware and kernel reservations are not counted.
func (p Profile) String() string {
	var b strings.Builder
	name := p.Name
	if name == "" {
		name = NameGeneric
	}
	b.WriteString(name)
	if p.Model != "" {
		b.WriteString(" (")
		b.WriteString(p.Model)
		b.WriteString(")")
	}
	switch {
	case p.Cores == 1:
		b.WriteString(", 1 core")
	case p.Cores > 1:
		b.WriteString(", ")
		b.WriteString(strconv.Itoa(p.Cores))
		b.WriteString(" cores")
	default:
		b.WriteString(", cores unknown")
	}
	if p.MemTotal > 0 {
		b.WriteString(", ")
		b.WriteString(strconv.FormatFloat(float64(p.MemTotal)/(1<<30), 'f', 1, 64))
		b.WriteString(" GiB")
	} else {
		b.WriteString(", memory unknown")
	}
	if p.GPU != "" {
		b.WriteString(", ")
		b.WriteString(p.GPU)
	}
	return b.String()
}

const gib = 1 << 30

// Default bounds; see the package documentation for the reasoning.
const (
	maxConcurrencyPerGiB = 16
	minMaxConcurrency    = 8
	maxMaxConcurrency    = 64 // the config's DefaultMaxConcurrency
	maxGenericInFlight   = 4
)

// Thermal limits in °C; see the package documentation for their sources.
const (
	thermalRPi        = 80
	thermalJetsonOrin = 95
	thermalJetsonOld  = 90
	thermalX86        = 90
	thermalGeneric    = 85
)

// applyDefaults fills the derived fields from Name, Cores and MemTotal.
// physical is the number of physical cores (0 when unknown).
func (p *Profile) applyDefaults(physical int) {
	cores := p.Cores
	if cores <= 0 {
		cores = 1 // knowing nothing, assume the smallest device
	}
	if physical <= 0 || physical > cores {
		physical = cores
	}
	// Round to whole GiB: MemTotal of a 1 GB board is ~0.9 GiB.
	q := p.MemTotal / gib
	if p.MemTotal%gib >= gib/2 {
		q++
	}
	memGiB := int(min(q, 1<<20))
	if memGiB < 1 {
		memGiB = 1
	}

	p.OllamaNumThread = max(1, physical-1)
	p.MaxConcurrency = clamp(memGiB*maxConcurrencyPerGiB, minMaxConcurrency, maxMaxConcurrency)

	switch p.Name {
	case NameRPi3, NameRPi4:
		p.LocalMaxInFlight = 1
	case NameRPi5:
		p.LocalMaxInFlight = 1
		if memAtLeast(p.MemTotal, 4) {
			p.LocalMaxInFlight = 2
		}
	case NameJetsonOrinNano:
		p.LocalMaxInFlight = 1
		if memAtLeast(p.MemTotal, 8) {
			p.LocalMaxInFlight = 2
		}
	case NameJetsonOrin:
		p.LocalMaxInFlight = 4
	case NameJetsonXavier:
		p.LocalMaxInFlight = 2
	case NameJetsonNano, NameJetson, NameGenericARM:
		p.LocalMaxInFlight = 1
	default: // x86, generic-arm64, generic
		p.LocalMaxInFlight = clamp(min(physical/4, memGiB/4), 1, maxGenericInFlight)
	}

	switch p.Name {
	case NameRPi3, NameRPi4, NameRPi5:
		p.ThermalLimitC = thermalRPi
	case NameJetsonOrinNano, NameJetsonOrin:
		p.ThermalLimitC = thermalJetsonOrin
	case NameJetsonXavier, NameJetsonNano, NameJetson:
		p.ThermalLimitC = thermalJetsonOld
	case NameX86:
		p.ThermalLimitC = thermalX86
	default:
		p.ThermalLimitC = thermalGeneric
	}
}

// memAtLeast reports whether mem bytes of MemTotal look like a board with
// at least nominal GB. MemTotal sits below the nominal size (firmware,
// GPU and kernel carve-outs), so three quarters of it is enough.
func memAtLeast(mem uint64, nominalGB uint64) bool {
	return mem >= nominalGB*gib/4*3
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}
