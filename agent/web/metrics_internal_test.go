package web

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tezgah/tezgah/outbox"
)

// Events written before events carried their terminal (schema 3) are
// still counted under the right terminal, by looking it up.
func TestCountEventsLooksUpOldEventsTerminal(t *testing.T) {
	ctx := context.Background()
	store, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, _, err := store.Accept(ctx, outbox.NewRequest{ID: "OLD", Terminal: "kasa-2", Op: "sale", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	m := NewMetrics("test", time.Now)
	providers := map[string]string{"kasa-1": "iyzico", "kasa-2": "paywall"}
	evs := []outbox.Event{
		{ID: "OLD", Type: outbox.EventAccepted, State: outbox.Queued},                     // as schema 3 wrote it
		{ID: "NEW", Terminal: "kasa-1", Type: outbox.EventAccepted, State: outbox.Queued}, // not in the store: needs no lookup
		{ID: "GONE", Type: outbox.EventResult, State: outbox.Approved},                    // pruned meanwhile: skipped
	}
	if err := m.countEvents(ctx, store, evs, providers); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		provider, terminal string
		want               float64
	}{{"paywall", "kasa-2", 1}, {"iyzico", "kasa-1", 1}} {
		if got := testutil.ToFloat64(m.accepted.WithLabelValues(c.provider, c.terminal)); got != c.want {
			t.Errorf("accepted{%s,%s} = %v, want %v", c.provider, c.terminal, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.results); n != 0 {
		t.Errorf("%d result series, want none (GONE was pruned)", n)
	}
}

// A result's delivery may be seen before or after the event log is
// counted; either way it ends up delivered, and nothing leaks.
func TestUndeliveredBookkeeping(t *testing.T) {
	now := time.Unix(1000, 0)
	m := NewMetrics("test", func() time.Time { return now })
	m.startCounting(10)             // results up to seq 10 were final before this process
	m.Delivered("local", "OLD", 7)  // a replay of one: nothing to remember
	m.resultFinal("local", "A", 11) // counted, then delivered
	m.Delivered("local", "B", 12)   // delivered, then counted
	m.resultFinal("local", "B", 12)
	m.resultFinal("local", "C", 13) // nobody came
	now = now.Add(90 * time.Second)
	m.Delivered("local", "A", 11)
	m.Delivered("local", "A", 11) // a second connection, or a query: already delivered
	if n := len(m.undelivered); n != 1 || m.undelivered[deliveryKey("local", "C")].IsZero() {
		t.Errorf("undelivered = %v, want only C", m.undelivered)
	}
	if len(m.early) != 0 {
		t.Errorf("early = %v, want none left", m.early)
	}
	want := "\n# HELP tezgah_results_undelivered_oldest_age_seconds How long the oldest undelivered result has waited for a register; 0 when none.\n" +
		"# TYPE tezgah_results_undelivered_oldest_age_seconds gauge\ntezgah_results_undelivered_oldest_age_seconds 90\n"
	if err := testutil.CollectAndCompare(deliveryCollector{m}, strings.NewReader(want), "tezgah_results_undelivered_oldest_age_seconds"); err != nil {
		t.Error(err)
	}
	// A flood of replays of old results costs nothing; deliveries of
	// results never counted (pruned meanwhile) stay bounded and go once
	// the count has passed them.
	for i := range 3 * maxEarly {
		m.Delivered("local", fmt.Sprint("old-", i), int64(1+i%10))
	}
	if len(m.early) != 0 {
		t.Errorf("early = %d entries after replays", len(m.early))
	}
	for i := range 3 * maxEarly {
		m.Delivered("local", fmt.Sprint("new-", i), int64(100+i))
	}
	if len(m.early) > maxEarly {
		t.Errorf("early grew to %d", len(m.early))
	}
	m.resultFinal("local", "D", int64(100+3*maxEarly))
	m.Delivered("local", "E", int64(200+3*maxEarly))
	if len(m.early) != 1 {
		t.Errorf("early = %d entries, want only E once the count passed the rest", len(m.early))
	}
}

// A scrape that cannot read the outbox says so twice: readable 0 for
// now, and a database error counted for increase() to alert on.
func TestScrapeCountsReadErrors(t *testing.T) {
	store, err := outbox.Open(filepath.Join(t.TempDir(), "o.db"), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics("test", time.Now)
	c := newOutboxCollector(m, store, []string{"kasa-1"}, time.Now)
	if got := testutil.ToFloat64(m.dbErrors.WithLabelValues(DBRead)); got != 0 {
		t.Fatalf("read errors before = %v", got)
	}
	store.Close()
	want := "# HELP tezgah_outbox_readable 1 when the outbox could be read for this scrape.\n# TYPE tezgah_outbox_readable gauge\ntezgah_outbox_readable 0\n"
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "tezgah_outbox_readable"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(m.dbErrors.WithLabelValues(DBRead)); got != 1 {
		t.Errorf("read errors = %v, want 1", got)
	}
}

// Ids are per register: one register's R1-1 delivered says nothing of
// another's.
func TestUndeliveredPerRegister(t *testing.T) {
	m := NewMetrics("test", time.Now)
	m.resultFinal("kasa-pc-1", "R1-1", 1)
	m.resultFinal("kasa-pc-2", "R1-1", 2)
	m.Delivered("kasa-pc-1", "R1-1", 1)
	if _, ok := m.undelivered[deliveryKey("kasa-pc-2", "R1-1")]; !ok || len(m.undelivered) != 1 {
		t.Fatalf("undelivered = %v, want kasa-pc-2's R1-1 only", m.undelivered)
	}
}
