package redistest_test

import "testing"

func TestTopologies(t *testing.T) { testVisits(t) }
