package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture edgeway targets (Go cannot call
// sysconf without cgo).
const clockTicks = 100

// cpuTimes is user plus system CPU time used by the benchmark itself and by
// edgeway, sampled at one moment.
type cpuTimes struct {
	self, edgeway time.Duration
	ok            bool
}

// cpuUsage is CPU time spent over a measurement window.
type cpuUsage struct {
	Self, Edgeway time.Duration
}

func (a cpuTimes) until(b cpuTimes) (cpuUsage, bool) {
	if !a.ok || !b.ok {
		return cpuUsage{}, false
	}
	return cpuUsage{Self: b.self - a.self, Edgeway: b.edgeway - a.edgeway}, true
}

// sampleCPU reads this process's rusage and pid's /proc stat.
func sampleCPU(pid int) cpuTimes {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTimes{}
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	ew, err := procCPU(pid)
	if err != nil {
		return cpuTimes{}
	}
	return cpuTimes{self: self, edgeway: ew, ok: true}
}

// procCPU returns utime+stime of pid.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(data)
}

// parseStatCPU takes utime and stime (fields 14 and 15) out of a
// /proc/PID/stat line. The command name (field 2) may hold spaces and
// parentheses, so fields are counted after its last ')'.
func parseStatCPU(data []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := bytes.Fields(data[i+1:])
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name", len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat: %w", err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}
