// Package faults holds seshat's reliability tests: real redis-server
// processes killed, paused, failed over and filled up under load, with the
// figures each scenario measures printed (go test -v) and checked. It has
// no code besides its tests.
package faults
