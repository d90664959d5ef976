package web_test

import (
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/testwait"
)

// poll checks cond until it holds or 10 s pass.
func poll(t *testing.T, what string, cond func() bool, why func() string) {
	t.Helper()
	testwait.For(t, what, 10*time.Second, cond, why)
}
