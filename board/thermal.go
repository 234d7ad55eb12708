package board

import (
	"io/fs"
	"strconv"
	"strings"
)

const (
	thermalDir = "sys/class/thermal"
	// maxThermalZones bounds the zones read per call; large x86 servers
	// expose a few dozen, anything beyond is not worth the syscalls.
	maxThermalZones = 128
	// Readings outside this range are sensor errors or placeholders, not
	// temperatures: Jetson Orin Nano reports -256000 for its absent CV
	// zones, and broken sensors report values like 0x7fffffff.
	minPlausibleC = -40
	maxPlausibleC = 200
)

// Temperature returns the hottest thermal zone in °C
// (sys/class/thermal/thermal_zone*/temp, in millidegrees). Zones that
// cannot be read or hold anything but a plausible integer are skipped; ok
// is false when none is left. It reads at most 128 zones and 64 bytes of
// each, and is safe to call concurrently.
func Temperature(fsys fs.FS) (celsius float64, ok bool) {
	if fsys == nil {
		return 0, false
	}
	entries, err := fs.ReadDir(fsys, thermalDir)
	if err != nil {
		return 0, false
	}
	n := 0
	for _, e := range entries {
		// Zones are symlinks into sys/devices, so IsDir is false: match
		// the name only.
		if !strings.HasPrefix(e.Name(), "thermal_zone") {
			continue
		}
		if n++; n > maxThermalZones {
			break
		}
		b, readable := readFile(fsys, thermalDir+"/"+e.Name()+"/temp", maxTempRead)
		if !readable || len(b) >= maxTempRead {
			continue // unreadable, or too long to be a temperature
		}
		c, valid := parseMilliCelsius(b)
		if !valid {
			continue
		}
		if !ok || c > celsius {
			celsius, ok = c, true
		}
	}
	return celsius, ok
}

// parseMilliCelsius parses a thermal zone temp file ("48625\n").
func parseMilliCelsius(b []byte) (float64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false
	}
	c := float64(v) / 1000
	if c < minPlausibleC || c > maxPlausibleC {
		return 0, false
	}
	return c, true
}
