// Package testwait lets tests wait for a condition on real state with a
// deadline, instead of sleeping. It imports nothing of tezgah, so every
// package's tests can use it, the agent package's own included.
package testwait

import (
	"testing"
	"time"
)

// For checks cond until it holds, failing the test if within passes
// first. The pause between checks is not synchronisation: cond reads the
// real state. why, if not nil, explains the failure (e.g. the logs so far).
func For(t testing.TB, what string, within time.Duration, cond func() bool, why func() string) {
	t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			msg := ""
			if why != nil {
				msg = "\n" + why()
			}
			t.Fatalf("timed out after %v waiting for %s%s", within, what, msg)
		case <-tick.C:
		}
	}
}
