package solanatest

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the chain if the test binary dies.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
