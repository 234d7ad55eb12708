//go:build unix

package ollamatest

import (
	"os"
	"syscall"
)

// procAttr puts the server in its own process group, so stopping it also
// reaches the model runners it starts.
func procAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(a)
	return a
}

// terminate asks the server's process group to stop.
func terminate(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGTERM) }

// kill stops the server's process group at once. It is a no-op when the
// group is gone.
func kill(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
