// Package cache keys build steps and keeps their layers in a registry
// repository or an OCI layout, so that a step whose inputs did not change
// is not run again.
package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// Key names a filesystem state: a hash chain over everything that made it.
type Key [sha256.Size]byte

// String is the key as a tag: 64 hex digits.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// Hasher builds a key from length-prefixed parts, so that no two different
// lists of parts ever hash the same bytes ("ab","c" vs "a","bc").
type Hasher struct{ h hash.Hash }

// NewHasher starts a key from its parent's.
func NewHasher(parent Key) *Hasher {
	h := &Hasher{h: sha256.New()}
	h.h.Write(parent[:])
	return h
}

// Add adds named parts.
func (h *Hasher) Add(parts ...string) *Hasher {
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.h.Write(n[:])
		h.h.Write([]byte(p))
	}
	return h
}

// AddKey adds another key (a stage's, a file tree's).
func (h *Hasher) AddKey(k Key) *Hasher { return h.Add(string(k[:])) }

// Sum is the key.
func (h *Hasher) Sum() Key {
	var k Key
	copy(k[:], h.h.Sum(nil))
	return k
}

// Of is the key of parts with no parent.
func Of(parts ...string) Key { return NewHasher(Key{}).Add(parts...).Sum() }

// Stream hashes a stream of bytes into a key.
type Stream struct{ h hash.Hash }

// NewStream starts a stream hash.
func NewStream() *Stream { return &Stream{h: sha256.New()} }

// Write implements io.Writer.
func (s *Stream) Write(p []byte) (int, error) { return s.h.Write(p) }

// Sum is the key of what was written.
func (s *Stream) Sum() Key {
	var k Key
	copy(k[:], s.h.Sum(nil))
	return k
}
