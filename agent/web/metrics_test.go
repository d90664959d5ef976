package web_test

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
)

// scrape reads /metrics into "name{labels}" -> value.
func scrape(t *testing.T, d *demo) map[string]float64 {
	t.Helper()
	code, body := d.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad exposition line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsCountersMove(t *testing.T) {
	d := startDemo(t)
	before := scrape(t, d)
	for _, name := range []string{
		`tezgah_build_info{version="test"}`,
		`tezgah_outbox_pending{terminal="kasa-1"}`,
		`tezgah_outbox_oldest_age_seconds{terminal="kasa-2"}`,
		`tezgah_websocket_connections`,
		`tezgah_outbox_readable`,
	} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	reg := d.dial(t)
	if ev := reg.sale("M-1", "kasa-1", "10.00"); ev.Status != "approved" {
		t.Fatalf("sale: %+v", ev)
	}
	if ev := reg.sale("M-2", "kasa-2", "20.00"); ev.Status != "approved" {
		t.Fatalf("sale: %+v", ev)
	}
	// The register has its results; the counters follow the event log,
	// so poll until they catch up.
	want := map[string]float64{
		`tezgah_requests_accepted_total{provider="iyzico",terminal="kasa-1"}`:                     1,
		`tezgah_requests_accepted_total{provider="iyzico",terminal="kasa-2"}`:                     1,
		`tezgah_results_total{provider="iyzico",status="approved",terminal="kasa-1"}`:             1,
		`tezgah_results_total{provider="iyzico",status="approved",terminal="kasa-2"}`:             1,
		`tezgah_provider_call_duration_seconds_count{call="send",outcome="ok",provider="iyzico"}`: 2,
		`tezgah_websocket_connections_total{event="opened"}`:                                      1,
		`tezgah_websocket_connections`:                                                            1,
	}
	var after map[string]float64
	poll(t, "metrics to count both sales", func() bool {
		after = scrape(t, d)
		for k, v := range want {
			if after[k]-before[k] != v {
				return false
			}
		}
		return true
	}, func() string {
		var b strings.Builder
		for k, v := range want {
			b.WriteString(k + ": moved " + strconv.FormatFloat(after[k]-before[k], 'f', -1, 64) + ", want " + strconv.FormatFloat(v, 'f', -1, 64) + "\n")
		}
		return b.String()
	})
	if after[`tezgah_provider_last_success_timestamp_seconds{provider="iyzico"}`] == 0 {
		t.Error("last success of iyzico not set")
	}
}

func TestHealthAndReady(t *testing.T) {
	d := startDemo(t)
	if code, body := d.get(t, "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := d.get(t, "/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Errorf("/readyz = %d %q", code, body)
	}
}
