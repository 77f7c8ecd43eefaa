package redisstore

import "sync"

// Redis Cluster hashes a key to one of 16,384 slots: the CRC16 (XMODEM:
// polynomial 0x1021, initial value 0) of the key's hash tag, or of the
// whole key without one, modulo 16,384. go-redis computes it in an
// internal package (internal/hashtag), so it is written again here; the
// table below is the one in the Redis Cluster specification's appendix A
// (crc16tab), built from the polynomial instead of copied, and
// TestCRC16 checks it against the specification's check value and
// against a Cluster node's CLUSTER KEYSLOT.

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

var crc16tab = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 is the CRC16 Redis Cluster hashes keys with.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ crc16tab[byte(crc>>8)^s[i]]
	}
	return crc
}

// slotOf returns the slot of a hash tag (or of a key without one).
func slotOf(tag string) int { return int(crc16(tag)) % clusterSlots }

// tagAlphabet is what slot tags are made of: no glob character (SCAN
// MATCH patterns name the tags with "?"), no brace, no '#'.
const tagAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// slotTags returns, for each slot, the hash tag of three characters of
// tagAlphabet that lands on it: the first in the order of the alphabet
// (first character slowest). Every slot has one (62³ = 238,328 candidates
// for 16,384 slots; TestSlotTags checks). Built on first use, in about
// 2 ms, into 48 KB. The table is part of the stored layout: a
// different choice would move every session, so TestSlotTags pins it.
var slotTags = sync.OnceValue(func() *[clusterSlots][3]byte {
	var t [clusterSlots][3]byte
	found := 0
	const a = tagAlphabet
	for i := 0; i < len(a) && found < clusterSlots; i++ {
		for j := 0; j < len(a) && found < clusterSlots; j++ {
			for k := 0; k < len(a); k++ {
				tag := [3]byte{a[i], a[j], a[k]}
				s := slotOf(string(tag[:]))
				if t[s][0] == 0 {
					t[s] = tag
					found++
				}
			}
		}
	}
	if found != clusterSlots {
		panic("redisstore: a slot without a tag") // a defect of the alphabet, caught by every test
	}
	return &t
})

// slotTag returns the hash tag of slot s.
func slotTag(s int) string {
	t := slotTags()[s]
	return string(t[:])
}
