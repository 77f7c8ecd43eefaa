package redisstore

import (
	"encoding/base64"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// clusterSplit returns the master of each slot when masters split the
// slots as redis-cli --cluster create does: evenly and contiguously, the
// boundaries rounded from a float32 cursor (redis-cli.c,
// clusterManagerCommandCreate).
func clusterSplit(masters int) []int {
	owner := make([]int, clusterSlots)
	per := float32(clusterSlots) / float32(masters)
	var cursor float32
	first := 0
	for m := range masters {
		last := int(math.Round(float64(cursor + per - 1)))
		if last > clusterSlots || m == masters-1 {
			last = clusterSlots - 1
		}
		last = max(last, first)
		for s := first; s <= last; s++ {
			owner[s] = m
		}
		first = last + 1
		cursor += per
	}
	return owner
}

// spread is how a layout's load falls on the masters of a Cluster.
type spread struct {
	ratio     float64 // busiest master's load ÷ the average
	empty     int     // masters holding nothing
	busiestCH int     // count hashes on the busiest node (Count's work there)
}

// spreadOf weighs each master by the buckets it holds (every bucket
// equally loaded: keys hash evenly over buckets).
func spreadOf(owner []int, masters int, bucketSlots []int) spread {
	per := make([]int, masters)
	for _, s := range bucketSlots {
		per[owner[s]]++
	}
	var sp spread
	for _, n := range per {
		sp.busiestCH = max(sp.busiestCH, n)
		if n == 0 {
			sp.empty++
		}
	}
	sp.ratio = float64(sp.busiestCH) * float64(masters) / float64(len(bucketSlots))
	return sp
}

// sampledRatio is the busiest ÷ average of real keys: n random handles
// (16 base64url characters, as the manager makes) placed by layout l.
func sampledRatio(owner []int, masters int, l Layout, handles []string) float64 {
	per := make([]int, masters)
	for _, h := range handles {
		per[owner[slotOf(l.tag(h))]]++
	}
	busiest := 0
	for _, n := range per {
		busiest = max(busiest, n)
	}
	return float64(busiest) * float64(masters) / float64(len(handles))
}

func legacySlots() []int {
	var s []int
	for b := range legacyBuckets {
		s = append(s, slotOf(fmt.Sprintf("%02x", b)))
	}
	return s
}

func allSlots() []int {
	s := make([]int, clusterSlots)
	for i := range s {
		s[i] = i
	}
	return s
}

// TestLayoutSimulation is the simulation of issue 21, no server needed:
// for Clusters of 3 to 1,000 masters with the slots split as redis-cli
// does, how much busier than the average the busiest master is, how many
// masters hold nothing, and how many count hashes Count reads, for the
// 256-bucket layout and the one-bucket-per-slot layout. Run with -v for
// the table. It checks the old layout against the figures and
// the new one against its goal (≤ 1.1 for every size).
func TestLayoutSimulation(t *testing.T) {
	t.Parallel()
	old, slots := legacySlots(), allSlots()
	want := map[int]struct {
		ratio float64
		empty int
	}{3: {1.04, 0}, 6: {1.20, 0}, 12: {1.31, 0}, 30: {1.76, 0}, 64: {1.75, 0}, 100: {2.73, 0}, 256: {4.00, 130},
		// The issue says 293 empty: it split at slot·masters/16384 (rounding
		// down); redis-cli rounds its cursor, which leaves one more bucket
		// on a master of its own.
		500: {5.86, 292}}
	rng := rand.New(rand.NewPCG(21, 21))
	handles := make([]string, 1000000)
	for i := range handles {
		var b [12]byte
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		handles[i] = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if testing.Short() {
		handles = handles[:100000]
	}
	show := map[int]bool{}
	for _, n := range []int{3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 30, 32, 50, 64, 100, 128, 200, 256, 300, 500, 512, 750, 1000} {
		show[n] = true
	}
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n| masters | old: busiest ÷ avg | old: empty masters | new: busiest ÷ avg | new: empty masters | new, %d sessions: busiest ÷ avg | count hashes old: total / busiest node | new: total / busiest node |\n", len(handles))
	tab.WriteString("|---|---|---|---|---|---|---|---|\n")
	worst, worstAt := 0.0, 0
	for n := 3; n <= 1000; n++ {
		owner := clusterSplit(n)
		o, w := spreadOf(owner, n, old), spreadOf(owner, n, slots)
		if w.ratio > worst {
			worst, worstAt = w.ratio, n
		}
		if w.empty > 0 {
			t.Errorf("%d masters: %d hold no bucket of the new layout", n, w.empty)
		}
		if exp, ok := want[n]; ok && (math.Abs(o.ratio-exp.ratio) > 0.005 || o.empty != exp.empty) {
			t.Errorf("%d masters, old layout: %.2f and %d empty, the issue says %.2f and %d", n, o.ratio, o.empty, exp.ratio, exp.empty)
		}
		if !show[n] {
			continue
		}
		fmt.Fprintf(&tab, "| %d | %.2f | %d | %.3f | %d | %.3f | %d / %d | %d / %d |\n", n, o.ratio, o.empty, w.ratio, w.empty,
			sampledRatio(owner, n, LayoutSlots, handles), legacyBuckets, o.busiestCH, clusterSlots, w.busiestCH)
	}
	fmt.Fprintf(&tab, "\nnew layout, worst over 3 to 1,000 masters: %.3f at %d masters\n", worst, worstAt)
	t.Log(tab.String())
	if worst > 1.1 {
		t.Errorf("new layout: busiest ÷ average %.3f at %d masters, above 1.1", worst, worstAt)
	}
}
