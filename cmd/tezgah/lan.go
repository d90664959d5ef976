package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/discovery"
	"github.com/tezgah/tezgah/agent/pairing"
)

const pairUsage = `Usage:
  tezgah pair --name NAME     create a token for one register (shown once)
  tezgah pair list            list paired registers
  tezgah pair revoke NAME     revoke a register's token
Flags (all forms): --config FILE | --data-dir DIR | --demo
`

// cmdPair manages pairing tokens. It works on the data directory's
// pairing file, so it works whether the agent runs or not, and the
// running agent sees the change at its next connection attempt.
func cmdPair(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, pairUsage) }
	name := fs.String("name", "", "the register's name, e.g. kasa-3")
	cfgPath := fs.String("config", "", "configuration file (default "+config.DefaultPath()+")")
	dataDir := fs.String("data-dir", "", "data directory (overrides agent.data_dir)")
	demo := fs.Bool("demo", false, "the data directory of `tezgah run --demo`")
	// Flags may come before or after the words (`pair revoke kasa-3
	// --demo`), as technicians type them either way.
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		words, args = append(words, fs.Arg(0)), fs.Args()[1:]
	}
	sub, arg := "", ""
	switch {
	case len(words) == 0 && *name != "":
	case len(words) == 1 && words[0] == "list":
		sub = "list"
	case len(words) == 2 && words[0] == "revoke":
		sub, arg = "revoke", words[1]
	default:
		fmt.Fprint(stderr, pairUsage)
		return 2
	}
	dir, err := resolveDataDir(*cfgPath, *dataDir, *demo)
	if err != nil {
		fmt.Fprintf(stderr, "tezgah pair: %v\n", err)
		return 1
	}
	store := pairing.Open(dir)
	switch {
	case sub == "":
		tok, err := store.Pair(*name)
		if err != nil {
			fmt.Fprintf(stderr, "tezgah pair: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "Paired %s. Its token, shown only this once:\n\n%s\n\n", *name, tok)
		fmt.Fprintln(stdout, "Enter it in the register as \"Authorization: Bearer <token>\", or append ?token=<token> to the URL.")
		fmt.Fprintf(stdout, "Revoke it with: tezgah pair revoke %s\n", *name)
		return 0
	case sub == "list":
		list, err := store.List()
		if err != nil {
			fmt.Fprintf(stderr, "tezgah pair list: %v\n", err)
			return 1
		}
		if len(list) == 0 {
			fmt.Fprintf(stdout, "no register is paired (%s)\n", store.Path())
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tPAIRED (UTC)")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\n", p.Name, p.Created.UTC().Format("2006-01-02 15:04"))
		}
		tw.Flush()
		return 0
	default: // revoke
		if err := store.Revoke(arg); err != nil {
			fmt.Fprintf(stderr, "tezgah pair revoke: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "Revoked %s: its next connection is refused; one open now stays until it closes.\n", arg)
		return 0
	}
}

// resolveDataDir finds the data directory the agent uses, the same way
// `tezgah run` does.
func resolveDataDir(cfgPath, dataDir string, demo bool) (string, error) {
	switch {
	case dataDir != "":
		return dataDir, nil
	case demo:
		return filepath.Join(config.DefaultDataDir(), "demo"), nil
	}
	if cfgPath == "" {
		cfgPath = config.DefaultPath()
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("%w (give --config FILE, --data-dir DIR, or --demo)", err)
		}
		return "", err
	}
	return cfg.Agent.DataDir, nil
}

// cmdDiscover lists agents on the network, for technicians and for
// registers that cannot do mDNS themselves.
func cmdDiscover(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("discover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "how long to listen")
	asJSON := fs.Bool("json", false, "one JSON object per agent and line")
	id := fs.String("id", "", "stop as soon as the agent with this id is found")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tezgah discover: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	n := 0
	err := discovery.Browse(ctx, func(e discovery.Entry) bool {
		n++
		return printFound(stdout, e, *id, *asJSON)
	})
	if err != nil {
		fmt.Fprintf(stderr, "tezgah discover: %v\n", err)
		return 1
	}
	if n == 0 {
		fmt.Fprintf(stderr, "tezgah discover: no tezgah agent answered within %v (is it listening beyond loopback, with lan.advertise on, and does the firewall let UDP 5353 through?)\n", *timeout)
		return 1
	}
	if *id != "" && ctx.Err() != nil {
		fmt.Fprintf(stderr, "tezgah discover: no agent with id %q within %v\n", *id, *timeout)
		return 1
	}
	return 0
}

// printFound prints e unless an id was asked for and e is another
// agent's (other agents on the network often answer first); it reports
// whether the search is over.
func printFound(w io.Writer, e discovery.Entry, id string, asJSON bool) (done bool) {
	if id != "" && e.Text["id"] != id {
		return false
	}
	printEntry(w, e, asJSON)
	return id != ""
}

func printEntry(w io.Writer, e discovery.Entry, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(struct {
			discovery.Entry
			URL string `json:"url"`
		}{e, e.URL()})
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	keys := make([]string, 0, len(e.Text))
	for k := range e.Text {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var txt []string
	for _, k := range keys {
		txt = append(txt, k+"="+e.Text[k])
	}
	fmt.Fprintf(w, "%s\n  url:       %s\n  host:      %s\n  addresses: %s\n  port:      %d\n  txt:       %s\n",
		e.Instance, e.URL(), e.Host, strings.Join(e.Addrs, ", "), e.Port, strings.Join(txt, " "))
}
