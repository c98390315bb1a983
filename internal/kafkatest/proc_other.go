//go:build !linux

package kafkatest

import (
	"errors"
	"syscall"
)

// sysProcAttr puts a JVM in its own process group. Outside Linux there is
// no parent-death signal: a test binary that dies without running Close
// (or Main's clean-up) leaves its brokers running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// lockFile is not implemented outside Linux; the caller does without
// what it guards (the shared class archive).
func lockFile(string) (func(), error) { return nil, errors.ErrUnsupported }
