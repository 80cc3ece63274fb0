//go:build race

package integration

// raceDetector reports whether the tests run under -race.
const raceDetector = true
