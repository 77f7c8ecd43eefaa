//go:build !race

package seshat_test

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = false
