//go:build race

package main_test

// raceEnabled: the tests run with -race, so the processes they start are
// built with it too, and a data race in the connector fails the test.
const raceEnabled = true
