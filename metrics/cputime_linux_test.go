package metrics_test

import (
	"syscall"
	"time"
	"unsafe"
)

// cpuTime is the CPU time the calling thread has used (the caller locks
// its goroutine to the thread), from CLOCK_THREAD_CPUTIME_ID: exact, where
// getrusage counts a thread's time in scheduler ticks. The process's time
// would add the garbage collector's background work, which lands on
// whichever block it happens to run during.
func cpuTime() time.Duration {
	const clockThreadCPUTime = 3 // CLOCK_THREAD_CPUTIME_ID
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		panic(errno)
	}
	return time.Duration(ts.Nano())
}
