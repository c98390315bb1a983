// Package demo is the embedded default: one process runs the embedded broker,
// the sandbox APIs, generators of realistic traffic and every pipeline, and
// prints live progress. `make run` and `connector demo` use it.
//
// It is a showcase and a smoke test, not a deployment: everything is in
// memory and the credentials are the sandbox's.
package demo
