package paywall

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"sync"

	"github.com/stipend/stipend/payments/l402"
)

// keyCache keeps root keys in memory. A root key never changes once stored, so a cached key
// is never stale; the cache saves a database read on every call of a reusable token.
type keyCache struct {
	next l402.RootKeys
	mu   sync.RWMutex
	keys map[l402.TokenID][]byte
	max  int
}

func newKeyCache(next l402.RootKeys, max int) *keyCache {
	return &keyCache{next: next, keys: make(map[l402.TokenID][]byte), max: max}
}

func (k *keyCache) NewRootKey(ctx context.Context, id l402.TokenID) ([]byte, error) {
	// New tokens are not cached: most single-use tokens are presented once.
	return k.next.NewRootKey(ctx, id)
}

func (k *keyCache) RootKey(ctx context.Context, id l402.TokenID) ([]byte, error) {
	k.mu.RLock()
	key, ok := k.keys[id]
	k.mu.RUnlock()
	if ok {
		return key, nil
	}
	key, err := k.next.RootKey(ctx, id)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.keys) >= k.max {
		// Dropping everything is crude but bounded; a busy server refills what it uses.
		clear(k.keys)
	}
	k.keys[id] = key
	k.mu.Unlock()
	return key, nil
}

// boundedSet is a set of strings that forgets everything when it grows past max.
type boundedSet struct {
	mu  sync.RWMutex
	m   map[string]struct{}
	max int
}

func (b *boundedSet) has(s string) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	_, ok := b.m[s]
	return ok
}

func (b *boundedSet) add(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil || len(b.m) >= b.max {
		b.m = make(map[string]struct{})
	}
	b.m[s] = struct{}{}
}

func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}
