package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel fixes it for
// user space whatever its internal HZ).
const clockTicks = 100

// Proc is a child process of the harness: one of the three binaries or the
// floor. Its output is kept (the last 64 KB) to explain a failure.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  *tail
	done chan struct{}
	err  error // of Wait, once done is closed
}

// start runs bin with args. The process gets its own process group so that
// the harness's Ctrl-C reaches it only through Stop.
func start(name, bin string, args ...string) (*Proc, error) {
	p := &Proc{name: name, cmd: exec.Command(bin, args...), out: &tail{max: 64 << 10}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if v := os.Getenv("BENCH_CONNECTOR_GOGC"); v != "" && name == "connector" {
		p.cmd.Env = append(os.Environ(), "GOGC="+v)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Usage is what the kernel accounts to a process: CPU (user + system, all
// threads) since it started, its resident set now and its peak (VmHWM).
type Usage struct {
	CPU          time.Duration
	RSS, PeakRSS int64 // bytes
}

// Usage reads /proc/<pid>/stat and /proc/<pid>/status. The CPU figure has
// the resolution of a clock tick (10 ms).
func (p *Proc) Usage() (Usage, error) {
	pid := p.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("%s: %w", p.name, err)
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after its last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return Usage{}, fmt.Errorf("%s: /proc/%d/stat: no command name", p.name, pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return Usage{}, fmt.Errorf("%s: /proc/%d/stat: %d fields", p.name, pid, len(f))
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Usage{}, fmt.Errorf("%s: /proc/%d/stat: %w", p.name, pid, err)
	}
	u := Usage{CPU: time.Duration(utime+stime) * time.Second / clockTicks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("%s: %w", p.name, err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			u.PeakRSS = kB(v)
		} else if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			u.RSS = kB(v)
		}
	}
	return u, nil
}

// kB parses a /proc/<pid>/status size ("  1234 kB") into bytes.
func kB(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n << 10
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop asks for a graceful stop (SIGTERM) and waits up to grace for it,
// then kills the process. It fails unless the process exited 0 within
// grace; the error carries the end of its output.
func (p *Proc) Stop(grace time.Duration) error {
	if ok, err := p.Exited(); ok {
		return p.failure("exited before it was stopped", err)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return p.failure("graceful stop", p.err)
		}
		return nil
	case <-time.After(grace):
		p.Kill()
		return p.failure(fmt.Sprintf("still running %s after SIGTERM; killed", grace), nil)
	}
}

// Kill ends the process at once and waits for it. It is safe to call on a
// process that has already ended.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *Proc) failure(what string, err error) error {
	return fmt.Errorf("%s: %s: %v\n--- last output of %s ---\n%s", p.name, what, err, p.name, p.out.String())
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
