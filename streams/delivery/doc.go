// Package delivery is the small leaf vocabulary every layer shares about one
// delivery attempt: its outcome (delivered, rejected with a reason, retry
// later, unauthorized), the one decision of what the runtime does with an
// error (Classify), the one retry policy (Policy, Retrier), and the
// readiness a unit reports on /readyz.
//
// It imports nothing of Kafka or HTTP, so API clients (connector/httpapi)
// speak in outcomes without importing the Kafka runtime (package streams),
// and streams acts on them without knowing HTTP.
//
// It must not grow I/O, goroutines or configuration parsing.
package delivery
