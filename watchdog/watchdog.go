// Package watchdog warns in the logs when a session store is about to lose
// or refuse sessions for lack of memory: for deployments without
// Prometheus (which should use the alert rules in deploy/prometheus).
package watchdog

import (
	"context"
	"log/slog"
	"time"

	"github.com/seshat-go/seshat/store"
)

// Options configures Watch.
type Options struct {
	// Threshold is the fraction of the store's memory limit above which a
	// warning is logged. Default: 0.8.
	Threshold float64
	// Interval is how often the store is asked. Default: 30 seconds.
	Interval time.Duration
	// Logger receives the warnings. Default: slog.Default().
	Logger *slog.Logger
}

// Watch checks the store's memory every interval until ctx ends and
// logs a warning when it is above the threshold of its limit, when it has
// no limit, and when it has started evicting keys: the signs that sessions
// are about to be lost or refused. It is for deployments without
// Prometheus (which should use the alert rules in deploy/prometheus). It
// logs each condition once when it starts and once when it clears.
func Watch(ctx context.Context, r store.StatsReporter, o Options) {
	if o.Threshold <= 0 || o.Threshold >= 1 {
		o.Threshold = 0.8
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	var high, unlimited bool
	var evicted int64 = -1
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, o.Interval)
		st, err := r.Stats(cctx, time.Now())
		cancel()
		if err == nil && st.EvictionPolicy != "" {
			ratio := 0.0
			if st.MaxMemory > 0 {
				ratio = float64(st.UsedMemory) / float64(st.MaxMemory)
			}
			switch now := st.MaxMemory > 0 && ratio >= o.Threshold; {
			case now && !high:
				o.Logger.Warn("seshat: session store memory is high", "used_bytes", st.UsedMemory, "max_bytes", st.MaxMemory,
					"ratio", ratio, "threshold", o.Threshold, "policy", st.EvictionPolicy, "sessions", st.Sessions)
				high = true
			case !now && high:
				o.Logger.Info("seshat: session store memory back below the threshold", "ratio", ratio)
				high = false
			}
			if st.MaxMemory == 0 && !unlimited {
				o.Logger.Warn("seshat: session store has no memory limit (maxmemory 0): it grows until the machine runs out", "used_bytes", st.UsedMemory)
				unlimited = true
			}
			if evicted >= 0 && st.EvictedKeys > evicted {
				o.Logger.Warn("seshat: session store is evicting keys: sessions are being lost", "evicted", st.EvictedKeys-evicted, "policy", st.EvictionPolicy)
			}
			evicted = st.EvictedKeys
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
