package ollamatest

import "syscall"

// setParentDeathSignal kills the server if the test binary dies without
// running its cleanups (a timeout panic, a SIGKILL), so no server is left
// listening.
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
