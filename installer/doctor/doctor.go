// Package doctor checks an installation the way a technician would, one
// line per check, each OK, WARN or FAIL with what to do about it: the
// configuration, the data directory, the database, the listening port,
// every provider's DNS, TCP, TLS and clock, the credentials, mDNS and the
// service. `tezgah doctor` prints the lines as a table or as JSON and
// exits non-zero when any line is FAIL. docs/operations.md explains every
// line.
//
// Every check looks at the real thing (opens the file, dials the host,
// fetches a token); none moves money.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/internal/diskspace"
)

// Status of one check.
type Status string

// The three outcomes. WARN needs a look but does not stop the agent.
const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Result is one line of the report.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Remedy string `json:"remedy,omitempty"`
}

// Options say what to check.
type Options struct {
	ConfigPath string
	// ServiceState returns the installed service's state in words
	// ("running", "stopped", "not installed"); nil skips the check.
	ServiceState func() string
	// Now is the local clock compared with the providers'.
	Now func() time.Time
	// Timeout bounds each network check. Default 5s.
	Timeout time.Duration
	// Version is sent to providers like the agent does.
	Version string
	// ServiceUser, when set, is the account the service runs as (Linux):
	// the data directory and the database must be its, or the service
	// cannot write them although doctor, run as root, can.
	ServiceUser string

	// Tests replace what they cannot arrange for real: a nearly full
	// disk, a provider on another machine.
	diskSpace   func(dir string) (free, size uint64, err error)
	thisMachine func(ctx context.Context, host string) bool
}

// Clock skew thresholds: providers reject signed or timestamped logins
// when clocks differ by minutes; a few seconds are normal.
const (
	SkewWarn = 30 * time.Second
	SkewFail = 5 * time.Minute
)

// Run performs every check and returns the report in a fixed order.
func Run(ctx context.Context, opts Options) []Result {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.diskSpace == nil {
		opts.diskSpace = diskspace.Of
	}
	if opts.thisMachine == nil {
		opts.thisMachine = onThisMachine
	}
	var out []Result
	cfg, res := checkConfig(opts.ConfigPath)
	out = append(out, res)
	if cfg != nil {
		out = append(out, checkDataDir(cfg.Agent.DataDir, opts.ServiceUser))
		out = append(out, checkDatabase(ctx, cfg.Agent.DataDir))
		out = append(out, checkDisk(cfg.Agent.DataDir, opts.diskSpace))
		out = append(out, checkPort(ctx, cfg.Agent.Listen, opts.Timeout))
		for _, ep := range endpoints(cfg) {
			out = append(out, checkEndpoint(ctx, ep, opts)...)
		}
		out = append(out, checkCredentials(ctx, cfg, opts)...)
		out = append(out, checkMDNS(cfg.Agent.Listen))
	}
	if opts.ServiceState != nil {
		out = append(out, checkService(opts.ServiceState()))
	}
	return out
}

// Failed reports whether any line is FAIL.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}

// WriteTable prints the report for people: one line per check, the
// remedy under each line that needs one.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tDETAIL")
	for _, r := range rs {
		// A config error names one key per line; keep them apart.
		lines := strings.Split(strings.TrimSpace(r.Detail), "\n")
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Status, r.Check, oneLine(lines[0]))
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "\t\t%s\n", oneLine(l))
		}
		if r.Remedy != "" && r.Status != OK {
			fmt.Fprintf(tw, "\t\t→ %s\n", oneLine(r.Remedy))
		}
	}
	return tw.Flush()
}

// WriteJSON prints the report for scripts.
func WriteJSON(w io.Writer, rs []Result) error {
	if rs == nil {
		rs = []Result{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		OK     bool     `json:"ok"`
		Checks []Result `json:"checks"`
	}{!Failed(rs), rs})
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func checkConfig(path string) (*config.Config, Result) {
	r := Result{Check: "config"}
	cfg, err := config.Load(path)
	if err != nil {
		r.Status, r.Detail = Fail, err.Error()
		r.Remedy = "fix the lines named above (every key is described in docs/configuration.md and configs/tezgah.example.toml); for a missing file, copy the example there"
		return nil, r
	}
	r.Status = OK
	r.Detail = fmt.Sprintf("%s: %d terminal(s), listen %s", path, len(cfg.Terminals), cfg.Agent.Listen)
	return cfg, r
}

func checkService(state string) Result {
	r := Result{Check: "service", Detail: state}
	switch state {
	case "running":
		r.Status = OK
	case "stopped":
		r.Status, r.Remedy = Warn, "start it: tezgah start"
	case "not installed":
		r.Status, r.Remedy = Warn, "install it as root/administrator: tezgah install (a .deb or .msi installs it for you)"
	default:
		r.Status, r.Remedy = Warn, "see `systemctl status tezgah` / `journalctl -u tezgah` (Windows: services.msc and the Event Log)"
	}
	return r
}
