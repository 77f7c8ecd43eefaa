package memstore

import (
	"time"

	"github.com/seshat-go/seshat/store"
)

// Sweep runs one sweep at now (the old store sweeps on Create).
func Sweep(s *Store, now time.Time) {
	s.maybeSweep(now)
	_ = store.MovedGrace
}
