package board

import (
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
)

func TestTemperature(t *testing.T) {
	zone := func(n, temp string) (string, *fstest.MapFile) {
		return "sys/class/thermal/thermal_zone" + n + "/temp", &fstest.MapFile{Data: []byte(temp)}
	}
	build := func(kv ...string) fstest.MapFS {
		m := fstest.MapFS{}
		for i := 0; i+1 < len(kv); i += 2 {
			k, v := zone(kv[i], kv[i+1])
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		fsys   fs.FS
		want   float64
		wantOK bool
	}{
		{"hottest zone wins", build("0", "45000\n", "1", "71500\n", "2", "60000\n"), 71.5, true},
		{"zone10 sorts before zone2 and still counts", build("2", "40000", "10", "41000"), 41, true},
		{"negative but plausible", build("0", "-5000\n"), -5, true},
		{"all below zero", build("0", "-30000", "1", "-20000"), -20, true},
		{"absent sensors ignored", build("0", "-256000\n", "1", "-256000\n"), 0, false},
		{"garbage ignored", build("0", "hot\n", "1", "4.2e4\n", "2", "", "3", "0x10\n", "4", "39000\n"), 39, true},
		{"implausibly hot ignored", build("0", "2147483647\n", "1", "255000\n", "2", "50000\n"), 50, true},
		{"overflowing number ignored", build("0", strings.Repeat("9", 40), "1", "30000"), 30, true},
		{"long file is bounded", build("0", "41000"+strings.Repeat(" ", 100)+"9", "1", "30000"), 30, true},
		{
			name: "unreadable zones skipped",
			fsys: fstest.MapFS{
				"sys/class/thermal/thermal_zone0/temp/x": {Data: []byte("a directory")},
				"sys/class/thermal/thermal_zone1/type":   {Data: []byte("no temp file\n")},
				"sys/class/thermal/thermal_zone2/temp":   {Data: []byte("33000\n"), Mode: fs.ModeNamedPipe},
				"sys/class/thermal/thermal_zone3/temp":   {Data: []byte("44000\n")},
			},
			want: 44, wantOK: true,
		},
		{
			name: "only thermal_zone entries count",
			fsys: fstest.MapFS{
				"sys/class/thermal/cooling_device0/temp": {Data: []byte("90000\n")},
				"sys/class/thermal/thermal_zone0/temp":   {Data: []byte("35000\n")},
			},
			want: 35, wantOK: true,
		},
		{"no thermal class", fstest.MapFS{"proc/cpuinfo": {Data: []byte("x")}}, 0, false},
		{"thermal class is a file", fstest.MapFS{"sys/class/thermal": {Data: []byte("x")}}, 0, false},
		{"nil fs", nil, 0, false},
		// Trees captured from real boards.
		{"rpi5", tree(t, "rpi5"), 52.7, true},
		{"rpi4", tree(t, "rpi4"), 61.322, true},
		{"rpi3", tree(t, "rpi3"), 55.306, true},
		// CV zones read -256000 (absent sensors) and must not count.
		{"jetson-orin-nano", tree(t, "jetson-orin-nano"), 48.437, true},
		{"generic-arm64", tree(t, "generic-arm64"), 0, false},
		// thermal_zone4 (iwlwifi) has no readable temp; cooling_device0 is no zone.
		{"x86", tree(t, "x86"), 56, true},
		{"empty", tree(t, "empty"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Temperature(tt.fsys)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Temperature = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestTemperatureZoneBound(t *testing.T) {
	m := fstest.MapFS{}
	for i := range maxThermalZones + 10 {
		name := fmt.Sprintf("sys/class/thermal/thermal_zone%03d/temp", i)
		temp := "30000"
		if i >= maxThermalZones {
			temp = "99000" // beyond the bound: never read
		}
		m[name] = &fstest.MapFile{Data: []byte(temp)}
	}
	got, ok := Temperature(m)
	if !ok || got != 30 {
		t.Errorf("Temperature = %v, %v; want 30, true", got, ok)
	}
}
