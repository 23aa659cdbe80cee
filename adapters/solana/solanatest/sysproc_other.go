//go:build !linux

package solanatest

import "os/exec"

func dieWithParent(*exec.Cmd) {}
