//go:build !unix

package metrics_test

import "time"

var start = time.Now()

// cpuTime stands in for the process's CPU time where getrusage is missing:
// the wall clock, which counts a busy machine's other work too.
func cpuTime() time.Duration { return time.Since(start) }
