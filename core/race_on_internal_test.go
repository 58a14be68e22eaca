//go:build race

package core

// raceEnabled is true under the race detector, whose instrumentation makes
// some code paths allocate: allocation counts are not asserted then.
const raceEnabled = true
