package outbox

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
)

// A database written by the schema before registers (4) opens with every
// request belonging to "local": its ids, events, references and arrival
// numbers carry over, and another register may then use the same ids.
func TestMigrationFromSchema4(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range migrations[:4] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", i+1, err)
		}
	}
	// Rows as schema 4's code wrote them; request 3 was pruned, so the
	// AUTOINCREMENT mark (3) is above the highest n left (2).
	for _, q := range []string{
		`PRAGMA user_version = 4`,
		`INSERT INTO requests (n, id, terminal, op, body, body_hash, reference, state, created_at, updated_at, final_at, provider_ref)
			VALUES (1, 'R1-1', 'kasa-1', 'sale', '{"amount":"1.00"}', 'h1', 'REFA', 'approved', 1, 1, 1, 'PR-1')`,
		`INSERT INTO requests (n, id, terminal, op, body, body_hash, reference, original_id, state, created_at, updated_at)
			VALUES (2, 'R1-2', 'kasa-1', 'refund', '{}', 'h2', 'REFB', 'R1-1', 'queued', 2, 2)`,
		`UPDATE sqlite_sequence SET seq = 3 WHERE name = 'requests'`,
		`INSERT INTO events (seq, request_id, request_n, at, body) VALUES
			(1, 'R1-1', 1, 1, '{"id":"R1-1","terminal":"kasa-1","type":"accepted","state":"queued","at":1}'),
			(2, 'R1-2', 2, 2, '{"id":"R1-2","terminal":"kasa-1","type":"accepted","state":"queued","at":2}'),
			(3, 'R1-1', 1, 3, '{"id":"R1-1","terminal":"kasa-1","type":"result","state":"approved","at":3}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := openTest(t, path, nil)
	r, ev, err := s.Get(ctx, Local, "R1-1")
	if err != nil || r.Register != Local || r.Reference != "REFA" || r.ProviderRef != "PR-1" || r.N != 1 {
		t.Fatalf("R1-1 after migration = %+v, %v", r, err)
	}
	if ev.Seq != 3 || ev.Register != Local || ev.Type != EventResult {
		t.Fatalf("latest event of R1-1 = %+v; want the result, seq 3, register local", ev)
	}
	if r2, _, err := s.Get(ctx, "", "R1-2"); err != nil || r2.OriginalID != "R1-1" || r2.Register != Local {
		t.Fatalf("R1-2 = %+v, %v", r2, err)
	}
	if _, _, err := s.Get(ctx, "kasa-pc-2", "R1-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("another register sees local's R1-1: %v", err)
	}
	if got := s.PendingCount("kasa-1"); got != 1 {
		t.Fatalf("PendingCount(kasa-1) = %d, want 1 (R1-2)", got)
	}
	// The same id from another register is a new request with the next
	// arrival number; the same id and body from local is the old one.
	nr := sale("R1-1", "kasa-1")
	nr.Register = "kasa-pc-2"
	ev, existing, err := s.Accept(ctx, nr)
	if err != nil || existing || ev.Register != "kasa-pc-2" || ev.Seq != 4 {
		t.Fatalf("kasa-pc-2's R1-1 = %+v, %v, %v; want a new request at seq 4", ev, existing, err)
	}
	r3, _, _ := s.Get(ctx, "kasa-pc-2", "R1-1")
	if r3.N != 4 {
		t.Fatalf("new request's n = %d, want 4: arrival numbers must not go back past the pruned 3", r3.N)
	}
	var version int
	s.db.QueryRow(`PRAGMA user_version`).Scan(&version)
	if version != SchemaVersion {
		t.Fatalf("user_version = %d, want %d", version, SchemaVersion)
	}
}

// Ids are scoped per register: the same id and body from two registers
// are two requests with their own reference, events and result.
func TestIDsScopedPerRegister(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, "", nil)
	a, b := sale("R1-1", "kasa-1"), sale("R1-1", "kasa-1")
	a.Register, b.Register = "kasa-pc-1", "kasa-pc-2"
	ea, existing, err := s.Accept(ctx, a)
	if err != nil || existing {
		t.Fatal(ea, existing, err)
	}
	eb, existing, err := s.Accept(ctx, b)
	if err != nil || existing || eb.Seq == ea.Seq {
		t.Fatalf("second register's R1-1 = %+v, %v, %v; want a new request", eb, existing, err)
	}
	ra, _, _ := s.Get(ctx, "kasa-pc-1", "R1-1")
	rb, _, _ := s.Get(ctx, "kasa-pc-2", "R1-1")
	if ra.Reference == rb.Reference || ra.N == rb.N {
		t.Fatalf("two registers' R1-1 share %q / %d", ra.Reference, ra.N)
	}
	if _, err := s.Begin(ctx, ra); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, ra, Approved, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, ev, _ := s.Get(ctx, "kasa-pc-2", "R1-1"); ev.Type != EventAccepted {
		t.Fatalf("kasa-pc-2's R1-1 moved with kasa-pc-1's: %+v", ev)
	}
	if _, err := s.Cancel(ctx, "kasa-pc-2", "R1-1"); err != nil {
		t.Fatalf("cancel kasa-pc-2's (queued) R1-1: %v", err)
	}
	if _, ev, _ := s.Get(ctx, "kasa-pc-1", "R1-1"); ev.State != Approved {
		t.Fatalf("kasa-pc-1's R1-1 = %+v after the other's cancel", ev)
	}
	// A body conflict is per register too.
	c := sale("R1-1", "kasa-1")
	c.Register, c.Body = "kasa-pc-1", []byte(`{"id":"R1-1","amount":"2.00"}`)
	if _, _, err := s.Accept(ctx, c); !errors.Is(err, ErrIDConflict) {
		t.Fatalf("kasa-pc-1's R1-1 with another body: %v, want ErrIDConflict", err)
	}
	if s.PendingCount("kasa-1") != 0 {
		t.Fatalf("PendingCount = %d after both finished", s.PendingCount("kasa-1"))
	}
}
