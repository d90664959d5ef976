// Package cardvault holds the card data of card-not-present sales between
// the register's command and the one attempt to send it: in memory only,
// keyed by request id, handed out once (Take) and forgotten after a time
// limit. Nothing here is ever written anywhere; a restart forgets every
// card, and the adapter then fails the sale with card_data_unavailable so
// the register sends it again, instead of the agent keeping card data for
// a later try.
//
// Go cannot promise that memory is wiped (strings are immutable and the
// garbage collector copies), so "forgotten" means that no reference is
// kept; the card is never serialised (bridge.Card masks itself).
package cardvault

import (
	"sync"
	"time"

	"github.com/tezgah/tezgah/bridge"
)

// Vault is the in-memory card store. The zero value is not usable; call New.
type Vault struct {
	mu sync.Mutex // guards m, closed
	m  map[string]*entry
	// closed refuses new cards after Close.
	closed bool
}

type entry struct {
	card  bridge.Card
	timer *time.Timer
}

// New returns an empty vault.
func New() *Vault { return &Vault{m: map[string]*entry{}} }

// Put keeps c for id until it is taken or ttl passes. It returns false,
// keeping nothing, when id already has a card (the same command sent
// twice: the first one's card is the one that will be sent) or the vault
// is closed.
func (v *Vault) Put(id string, c bridge.Card, ttl time.Duration) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return false
	}
	if _, ok := v.m[id]; ok {
		return false
	}
	e := &entry{card: c}
	e.timer = time.AfterFunc(ttl, func() { v.drop(id, e) })
	v.m[id] = e
	return true
}

// Take implements bridge.CardSource: it returns id's card and forgets it.
func (v *Vault) Take(id string) (bridge.Card, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.m[id]
	if !ok {
		return bridge.Card{}, false
	}
	delete(v.m, id)
	e.timer.Stop()
	c := e.card
	e.card = bridge.Card{}
	return c, true
}

// Drop forgets id's card if it has one.
func (v *Vault) Drop(id string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.m[id]; ok {
		e.timer.Stop()
		e.card = bridge.Card{}
		delete(v.m, id)
	}
}

func (v *Vault) drop(id string, e *entry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m[id] == e {
		e.card = bridge.Card{}
		delete(v.m, id)
	}
}

// Len is the number of cards held.
func (v *Vault) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.m)
}

// Close forgets every card and refuses new ones.
func (v *Vault) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	for id, e := range v.m {
		e.timer.Stop()
		e.card = bridge.Card{}
		delete(v.m, id)
	}
}
