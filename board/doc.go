// Package board detects the device edgeway runs on and derives defaults
// from it.
//
// Detection reads an fs.FS rooted at the file system root (os.DirFS("/")
// in production, captured trees under testdata/ in tests), in the manner
// of Tailscale's hostinfo_linux.go and Ollama's discover package. It
// returns a best guess and never fails: a missing, unreadable or odd file
// only makes the guess less specific. Every read is bounded and only
// regular files are opened, so a FIFO or a runaway procfs file cannot hang
// or bloat startup. All parsing is plain Go over bytes and is tested on
// any OS; there is no platform-specific code.
//
// # Sources
//
//   - proc/device-tree/model and proc/device-tree/compatible (falling back
//     to sys/firmware/devicetree/base): NUL-terminated strings naming the
//     board ("Raspberry Pi 5 Model B Rev 1.0") and its compatible list
//     ("nvidia,p3767-0005", "nvidia,tegra234").
//   - etc/nv_tegra_release: present on every Jetson running L4T
//     ("# R36 (release), REVISION: 3.0, ..."); R36 (JetPack 6) runs only
//     on Orin, which settles the family when the device tree is missing.
//   - proc/cpuinfo: architecture, CPU model, physical cores, and on
//     Raspberry Pi kernels a "Model" line.
//   - proc/meminfo: MemTotal.
//   - sys/devices/system/cpu/online: online CPUs ("0-3").
//   - sys/class/thermal/thermal_zone*/temp: temperature, in Temperature.
//
// # Defaults and why
//
// LocalMaxInFlight is how many requests the local runtime takes before it
// counts as busy and the router sends the next one elsewhere (the cloud,
// or a 503 with Retry-After when offline). On a CPU-only board a second
// concurrent generation does not add throughput, it halves each stream's
// tokens per second and makes the second caller wait behind the first
// prompt; Ollama itself serves one request at a time unless
// OLLAMA_NUM_PARALLEL is raised. So:
//
//   - rpi3, rpi4, generic-arm, jetson-nano: 1. More memory does not add
//     compute, so an 8 GB Pi 4 gets 1 too.
//   - rpi5: 2 with at least 4 GB. Its Cortex-A76 cores are two to three
//     times a Pi 4, enough for two small-model streams; two KV caches next
//     to a model do not fit in 2 GB, so smaller boards get 1.
//   - jetson-orin-nano: 2 with 8 GB (1 on the 4 GB module). The GPU batches
//     parallel decoding almost for free; the shared 8 GB holds a 3B model
//     and two KV caches but not four.
//   - jetson-xavier: 2; jetson-orin (NX, AGX): 4, where GPU batching and
//     16-64 GB leave room.
//   - x86, generic-arm64, generic: one per four physical cores and per
//     4 GiB, clamped to 1..4.
//
// OllamaNumThread is physical cores minus one, at least 1. Ollama and
// llama.cpp default to all physical cores, but their threads spin-wait at
// every barrier, so one thread descheduled by the gateway or the kernel
// stalls all of them: on a busy 2-core machine 2 threads ran at ~77 ms a
// token and 1 thread at ~0.2 ms (runtime-notes). Token generation on a
// Pi is memory-bandwidth bound, so giving up one of four cores costs
// little and keeps the cliff away.
//
// MaxConcurrency is 16 requests per GiB of RAM (rounded to whole GiB),
// clamped to 8..64 (64 is the config's built-in default). A gateway request mostly waits on an
// upstream, but each one may hold a body of up to 4 MiB plus its decoded
// form; 16 per GiB keeps that worst case near an eighth of memory.
//
// ThermalLimitC is the temperature above which the local runtime counts as
// too hot and new work goes elsewhere:
//
//   - Raspberry Pi: 80 °C. The firmware throttles the ARM cores
//     progressively from 80 °C and hard-limits at 85 °C on every model
//     (the 3B+ also has a 60 °C soft limit that only trims 1.4 to 1.2 GHz,
//     not worth shedding for).
//   - Jetson Orin: 95 °C. The Tegra234 device tree puts the CPU passive
//     (software throttle) trip at 99 °C and the critical shutdown at
//     104.5 °C; 85 °C there is only the first fan trip on some modules, so
//     85 would shed load from a healthy board. 95 leaves room for streams
//     still running to finish before clocks drop.
//   - Older Jetsons (Xavier, Nano, unknown Tegra): 90 °C, a conservative
//     value below their L4T throttle trips (not verified per module).
//   - x86: 90 °C, below Intel's usual 100 °C TjMax and AMD's 95 °C Tctl
//     limit where the CPU throttles.
//   - Other ARM boards and unknown devices: 85 °C, the passive trip common
//     in arm64 board device trees (Rockchip RK3588, for one).
//
// Knowing nothing (an empty tree), Detect assumes the smallest device
// edgeway targets: one core, 1 GiB, so every default is non-zero and
// cautious. DetectHost fills the architecture and CPU count from the Go
// runtime when the files say nothing.
package board
