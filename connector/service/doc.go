// Package service builds the connector from a config.Config and runs it: one
// unit per sink pipeline, source and background follower, all in one group so
// that one unit's failure stops the rest, plus the operations endpoint
// (/metrics, /healthz, /readyz, /status).
//
// It owns wiring only: what a sink does is in its API's package, how records
// flow is in package streams.
package service
