package kafkatest

import "syscall"

// sysProcAttr puts a JVM in its own process group, so a Ctrl-C at the
// terminal reaches the test binary and not the brokers, and has the kernel
// SIGKILL it when the test binary dies, however it dies (a panic, a
// go test -timeout, a SIGKILL), so no broker outlives its tests.
//
// Pdeathsig fires when the thread that started the child exits; the Go
// runtime does not end threads of goroutines that never lock one, which
// the harness does not, so in practice that is the process's exit.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// lockFile takes an exclusive lock on path, waiting for it, and returns
// what releases it.
func lockFile(path string) (unlock func(), err error) {
	fd, err := syscall.Open(path, syscall.O_CREAT|syscall.O_RDWR|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return func() { syscall.Close(fd) }, nil
}
