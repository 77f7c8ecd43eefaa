package redistest_test

import (
	"testing"

	"github.com/seshat-go/seshat/redisstore/redistest"
)

// testVisits is a test of one's own, run on every topology in a subtest
// named after it: two instances of an application, each with its own
// client, count visits in one Redis. (TestTopologies calls it.)
func testVisits(t *testing.T) {
	for _, top := range redistest.Topologies() {
		t.Run(top.Name, func(t *testing.T) {
			redis := top.Start(t)
			a, b := redis.Client(t), redis.Client(t)
			for i := int64(1); i <= 4; i++ {
				instance := a
				if i%2 == 0 {
					instance = b
				}
				if n, err := instance.Incr(t.Context(), "visits").Result(); err != nil || n != i {
					t.Fatalf("visit %d: INCR = %d, %v", i, n, err)
				}
			}
		})
	}
}

func ExampleTopologies() {
	// In a _test.go file:
	//
	//	func TestVisits(t *testing.T) { testVisits(t) }
}
