package outbox

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestViews(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.UnixMilli(1_764_000_000_000)}
	s := openTest(t, "", c)
	for _, id := range []string{"A", "B", "C"} {
		if _, _, err := s.Accept(ctx, sale(id, "kasa-"+id)); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Second)
	}
	a, _, _ := s.Get(ctx, "", "A")
	if _, err := s.Finish(ctx, a, Approved, []byte(`{"status":"approved"}`)); err != nil {
		t.Fatal(err)
	}
	b, _, _ := s.Get(ctx, "", "B")
	if _, err := s.Begin(ctx, b); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Second)
	if _, err := s.Defer(ctx, b, Unknown, c.Now().Add(time.Hour), "timeout"); err != nil {
		t.Fatal(err)
	}

	recent, err := s.Recent(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 3 || recent[0].ID != "B" {
		t.Fatalf("Recent = %v; want B (changed last) first of 3", ids(recent))
	}
	pending, err := s.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(pending); len(got) != 2 || got[0] != "B" || got[1] != "C" {
		t.Fatalf("Pending = %v; want [B C]", got)
	}
	terms, err := s.Terminals(ctx, []string{"A", "C", "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if len(terms) != 2 || terms["A"] != "kasa-A" || terms["C"] != "kasa-C" {
		t.Fatalf("Terminals = %v", terms)
	}

	last, err := s.LastResult(ctx, "kasa-A")
	if err != nil || last == nil || last.ID != "A" {
		t.Fatalf("LastResult(kasa-A) = %+v, %v; want A", last, err)
	}
	if last, err := s.LastResult(ctx, "kasa-C"); err != nil || last != nil {
		t.Fatalf("LastResult(kasa-C) = %+v, %v; want none", last, err)
	}

	r, err := s.Nudge(ctx, "", "B")
	if err != nil {
		t.Fatal(err)
	}
	if !r.NextAt.IsZero() || r.State != Unknown || !r.MaybeSent {
		t.Fatalf("after Nudge: next %v state %s maybe_sent %v; want due now, still unknown and maybe sent", r.NextAt, r.State, r.MaybeSent)
	}
	if _, err := s.Nudge(ctx, "", "A"); !errors.Is(err, ErrStale) {
		t.Errorf("Nudge of a final request: %v, want ErrStale", err)
	}
	if _, err := s.Nudge(ctx, "", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Nudge of an unknown id: %v, want ErrNotFound", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func ids(rs []Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
