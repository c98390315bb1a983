package streamstest

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Meter measures what a benchmark costs the whole process (connector, broker
// and sandbox together, since they share it): CPU seconds, wall time, and
// the peak resident set size (VmHWM).
type Meter struct {
	start time.Time
	cpu0  time.Duration
}

// StartMeter starts measuring.
func StartMeter() *Meter { return &Meter{start: time.Now(), cpu0: cpuTime()} }

// Stop reports the figures to b: "<per>-cpu-s" is CPU seconds per `per`
// records, "records/s" the sustained rate, "peak-rss-MB" the high-water RSS.
// unit names the records ("events", "updates", "records").
func (m *Meter) Stop(b *testing.B, records int64, unit string, per int) {
	wall := time.Since(m.start)
	cpu := cpuTime() - m.cpu0
	if records > 0 {
		b.ReportMetric(float64(records)/wall.Seconds(), unit+"/s")
		b.ReportMetric(cpu.Seconds()*float64(per)/float64(records), "cpu-s/"+strconv.Itoa(per/1000)+"k-"+unit)
	}
	b.ReportMetric(float64(PeakRSS())/(1<<20), "peak-rss-MB")
}

// CPUTime is the CPU time the process has used (user and system).
func CPUTime() time.Duration { return cpuTime() }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS is the process's peak resident set size in bytes (VmHWM). Run
// each benchmark in its own process for this to be its own (make bench does).
func PeakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
