package deploy_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/tlscert"
	"github.com/tezgah/tezgah/internal/agenttest"
)

// tool returns the path of a Prometheus binary (promtool, prometheus),
// or skips the test saying what to install; in CI, where .ci/run
// installs the Debian package prometheus, a missing one fails it.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s missing in CI: .ci/run should have installed the Debian package prometheus", name)
	}
	t.Skipf("%s not found: install the Debian package prometheus (apt-get install --no-install-recommends prometheus) to run this test", name)
	return ""
}

func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out)
}

func TestRulesPassPromtool(t *testing.T) {
	run(t, "prometheus", "promtool", "check", "rules", "tezgah-rules.yml")
	run(t, "prometheus", "promtool", "test", "rules", "tezgah-rules.test.yml")
}

func TestShopAgentConfigPassesPromtool(t *testing.T) {
	run(t, "prometheus", "promtool", "check", "config", "shop-agent.yml")
}

// Every rule must be tested, so a rule added without a test fails here.
func TestEveryRuleHasATest(t *testing.T) {
	rules, err := os.ReadFile("prometheus/tezgah-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("prometheus/tezgah-rules.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\w+)`).FindAllStringSubmatch(string(rules), -1)
	if len(alerts) == 0 {
		t.Fatal("no alert in tezgah-rules.yml")
	}
	for _, a := range alerts {
		fires := regexp.MustCompile(`alertname: ` + a[1] + `\s+exp_alerts:\s+- exp_labels`)
		if !fires.Match(tests) {
			t.Errorf("%s: no test where it fires", a[1])
		}
	}
}

// Names PromQL knows that are not metrics, and series Prometheus itself
// makes (up for every target, ALERTS for firing rules).
var (
	promqlWords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
	prometheusOwn = map[string]bool{"up": true, "ALERTS": true}
	quoted        = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	braces        = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	labelLists    = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident         = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	templateVars  = regexp.MustCompile(`\$\w+|\$\{[^}]*\}`)
)

// metricNames returns the metric names a PromQL expression reads.
func metricNames(expr string) []string {
	s := quoted.ReplaceAllString(expr, `""`)
	s = templateVars.ReplaceAllString(s, "5m")
	s = braces.ReplaceAllString(s, "")
	s = labelLists.ReplaceAllString(s, "")
	var out []string
	for _, loc := range ident.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") || promqlWords[strings.ToLower(name)] {
			continue // a function or aggregation, or a keyword
		}
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // a number's unit or exponent: 5m, 1e9
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNamesOfPromQL(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`sum by (provider, le) (rate(tezgah_x_bucket{outcome="ok", shop=~"$shop"}[5m])) * 60`, []string{"tezgah_x_bucket"}},
		{`a > ignoring(terminal) group_left() (b + 60) unless on(job) c offset 1h`, []string{"a", "b", "c"}},
		{`count(x) or vector(0)`, []string{"x"}},
		{`max_over_time(up{job="tezgah"}[1h]) unless up`, []string{"up", "up"}},
		{`y < 1e9 and z == bool 14 * 86400`, []string{"y", "z"}},
	} {
		if got := metricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("metricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// exported starts the demo agent with TLS on (so the certificate's
// expiry is exported too), makes a sale so the labelled series exist,
// and returns the metric names its /metrics shows.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	cfg := config.Demo()
	cfg.LAN.TLS = true
	wsURL := agenttest.Run(t, cfg, agent.Options{Version: "test", Demo: true})
	insecure := &tls.Config{InsecureSkipVerify: true} // the agent's own certificate, on loopback
	sale(t, &websocket.Dialer{TLSClientConfig: insecure, HandshakeTimeout: 10 * time.Second}, wsURL, "D-1")
	base := "https://" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "wss://"), "/v1/ws")
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: insecure}}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line[:strings.IndexAny(line, "{ ")]
		names[name] = true
		if name == "tezgah_tls_certificate_expiry_timestamp_seconds" {
			// The demo generates its certificate at start.
			v, err := strconv.ParseFloat(line[len(name)+1:], 64)
			if want := float64(time.Now().Add(tlscert.Validity).Unix()); err != nil || v < want-86400 || v > want+86400 {
				t.Errorf("%s = %v (%v), want about %v", name, v, err, want)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

type dashboard struct {
	Panels []struct {
		Title   string
		Type    string
		Targets []struct{ Expr string }
	}
	Templating struct {
		List []struct {
			Name, Type string
			Definition string
		}
	}
}

// Every query of the dashboard and every rule reads only metrics a
// running agent exports; a renamed metric breaks this test, not a
// chain's monitoring.
func TestDeployFilesUseExportedMetrics(t *testing.T) {
	have := exported(t)
	check := func(where, expr string) {
		t.Helper()
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			if !have[n] && !prometheusOwn[n] {
				t.Errorf("%s: %s is not exported by the agent (query %q)", where, n, expr)
			}
		}
	}

	b, err := os.ReadFile("grafana/tezgah.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana/tezgah.json: %v", err)
	}
	queries := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			check("panel "+p.Title, q.Expr)
			queries++
		}
	}
	vars := map[string]bool{}
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`)
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("variable %s: %q is not label_values(metric, label)", v.Name, v.Definition)
			continue
		}
		check("variable "+v.Name, m[1])
	}
	for _, want := range []string{"shop", "agent"} {
		if !vars[want] {
			t.Errorf("dashboard has no %s variable", want)
		}
	}
	t.Logf("%d panel queries checked against %d exported names", queries, len(have))

	rules, err := os.ReadFile("prometheus/tezgah-rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs := regexp.MustCompile(`(?m)^\s*expr: (?:\|\n((?:\s{10}.*\n)+)|(.*)\n)`).FindAllStringSubmatch(string(rules), -1)
	if len(exprs) == 0 {
		t.Fatal("no expr found in the rules")
	}
	for _, e := range exprs {
		check("rule", e[1]+e[2])
	}
	// The names the rules and the docs count on, whatever the queries say.
	var missing []string
	for _, n := range []string{"tezgah_agent_info", "tezgah_data_dir_free_bytes", "tezgah_tls_certificate_expiry_timestamp_seconds",
		"tezgah_results_undelivered_oldest_age_seconds", "tezgah_database_errors_total", "tezgah_sale_timeout_seconds"} {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("agent does not export %v", missing)
	}
}

// The dashboard imports cleanly into any Grafana with any Prometheus:
// unique panel ids, panels that do not overlap, and every query on the
// data source the importer picks.
func TestDashboardLayout(t *testing.T) {
	b, err := os.ReadFile("grafana/tezgah.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string
		Panels []struct {
			ID         int
			Title      string
			Type       string
			Datasource *struct{ UID string }
			GridPos    struct{ X, Y, W, H int }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" {
		t.Error("no uid: every import would make a new copy")
	}
	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", p.Title, other, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type != "row" && (p.Datasource == nil || p.Datasource.UID != "${datasource}") {
			t.Errorf("panel %q is not on the ${datasource} variable", p.Title)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: grid position %+v", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panels %q and %q overlap at %d,%d", p.Title, other, x, y)
				}
				taken[cell{x, y}] = p.Title
			}
		}
	}
}
