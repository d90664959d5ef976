package web

import (
	"context"
	"path/filepath"
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
