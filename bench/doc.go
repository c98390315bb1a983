// Package bench measures the connector as its own process: make bench
// (cmd/benchrun) builds cmd/connector, cmd/broker, cmd/sandbox and
// bench/floor once, starts a fresh broker and sandbox process for each run,
// produces the backlog before the connector starts, and reads the
// connector's records/s (from the first record the API accepted to the last
// offset committed), its CPU over that window (utime+stime from
// /proc/<pid>/stat) and its peak RSS (VmHWM from /proc/<pid>/status), so no
// figure includes the broker, the sandbox or the harness. It prints every
// figure beside its target in one table.
//
// bench/floor is the reference: the least a program can do for the same
// work (a kafka-go group read and one net/http POST per record), measured
// the same way.
package bench
