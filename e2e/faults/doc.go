// Package faults holds seshat's reliability tests: real redis-server
// processes killed, paused, failed over and filled up under load, and
// real PostgreSQL clusters killed and failed over to a synchronous
// standby, with the figures each scenario measures printed (go test -v)
// and checked. It has no code besides its tests.
package faults
