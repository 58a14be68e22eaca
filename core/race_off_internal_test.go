//go:build !race

package core

// raceEnabled is true under the race detector (see race_on_internal_test.go).
const raceEnabled = false
