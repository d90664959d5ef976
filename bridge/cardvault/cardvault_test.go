package cardvault

import (
	"testing"
	"time"

	"github.com/tezgah/tezgah/bridge"
)

func TestTakeOnce(t *testing.T) {
	v := New()
	c := bridge.Card{Number: "4508034508034509", CVC: "000"}
	if !v.Put("S1", c, time.Hour) {
		t.Fatal("put refused")
	}
	if v.Put("S1", bridge.Card{Number: "other"}, time.Hour) {
		t.Fatal("second put for the same id accepted")
	}
	got, ok := v.Take("S1")
	if !ok || got.Number != c.Number {
		t.Fatalf("take: %v", ok)
	}
	if _, ok := v.Take("S1"); ok {
		t.Fatal("card handed out twice")
	}
	v.Close()
	if v.Put("S2", c, time.Hour) {
		t.Fatal("put after close accepted")
	}
}

func TestForgottenAfterTTL(t *testing.T) {
	v := New()
	v.Put("S1", bridge.Card{Number: "4508034508034509"}, time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for v.Len() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("card still held after its time limit")
		}
		time.Sleep(time.Millisecond) // polling a condition with a deadline
	}
	if _, ok := v.Take("S1"); ok {
		t.Fatal("expired card handed out")
	}
}
