//go:build race

package route

// raceEnabled is true under the race detector, which makes some code paths allocate.
const raceEnabled = true
