// Command tezgah is the payment edge agent: `tezgah run` serves cash
// registers; the other subcommands manage it as an OS service.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/agent/logging"
	"github.com/tezgah/tezgah/agent/tlscert"
	"github.com/tezgah/tezgah/installer"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `tezgah — payment edge agent for shop cash registers

Usage:
  tezgah run [--demo] [--config FILE] [--data-dir DIR] [--listen ADDR]
  tezgah pair --name NAME | pair list | pair revoke NAME
  tezgah discover [--timeout 3s] [--json] [--id ID]
  tezgah install [--config FILE]     register the OS service (as root / administrator)
  tezgah uninstall | start | stop | restart | status | reload
  tezgah doctor [--config FILE] [--json]
  tezgah backup [--config FILE] BACKUP-FILE   consistent copy of the database, while it runs
  tezgah version

Run "tezgah run --demo" to try it with built-in provider simulators.
Docs: docs/operations.md, docs/protocol.md, docs/configuration.md,
docs/discovery.md, docs/security.md
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "pair":
		return cmdPair(args[1:], stdout, stderr)
	case "discover":
		return cmdDiscover(args[1:], stdout, stderr)
	case "install", "uninstall", "start", "stop", "restart", "status", "reload":
		return cmdService(args[0], args[1:], stdout, stderr)
	case "doctor":
		return cmdDoctor(args[1:], stdout, stderr)
	case "backup":
		return cmdBackup(args[1:], stdout, stderr)
	case "setup-service": // the .msi's custom action; not for people
		warn := func(msg string) { fmt.Fprintf(stderr, "tezgah setup-service: warning: %s\n", msg) }
		if err := installer.SetupInstalled(config.DefaultPath(), warn); err != nil {
			fmt.Fprintf(stderr, "tezgah setup-service: %v\n", err)
			return 1
		}
		return 0
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "tezgah", version)
		return 0
	case "help", "-h", "--help":
		if len(args) > 1 && args[1] == "--man" {
			writeMan(stdout, version)
			return 0
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tezgah: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "run with built-in provider simulators and four demo terminals")
	cfgPath := fs.String("config", "", "configuration file (default "+config.DefaultPath()+")")
	dataDir := fs.String("data-dir", "", "data directory for the database and logs (overrides agent.data_dir)")
	listen := fs.String("listen", "", "address to listen on, e.g. 127.0.0.1:8417; port 0 picks a free port")
	asService := fs.Bool("service", false, "run under the OS service manager (set by `tezgah install`)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tezgah run: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	agent.TuneGC()
	var cfg *config.Config
	path := *cfgPath
	if path == "" {
		path = config.DefaultPath()
	}
	switch {
	case *demo && *cfgPath != "":
		fmt.Fprintln(stderr, "tezgah run: --demo and --config are exclusive")
		return 2
	case *demo:
		cfg = config.Demo()
		// Keep demo data apart from a real installation's.
		cfg.Agent.DataDir = filepath.Join(config.DefaultDataDir(), "demo")
	default:
		var err error
		if cfg, err = config.Load(path); err != nil {
			fmt.Fprintf(stderr, "tezgah run: %v\n", err)
			if errors.Is(err, os.ErrNotExist) && *cfgPath == "" {
				fmt.Fprintln(stderr, "(no configuration yet: try `tezgah run --demo`, or copy configs/tezgah.example.toml there)")
			}
			return 1
		}
	}
	override := func(cfg *config.Config) {
		if *asService && cfg.DataDirDefaulted() {
			cfg.Agent.DataDir = config.ServiceDataDir()
		}
		if *dataDir != "" {
			cfg.Agent.DataDir = *dataDir
		}
		if *listen != "" {
			cfg.Agent.Listen = *listen
		}
	}
	override(cfg)
	log := logging.New(stderr, level(cfg.Agent.LogLevel)) // redacts secrets and card numbers
	if *asService {
		l, closeLog, err := serviceLog(cfg, path, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "tezgah run: %v\n", err)
			return 1
		}
		defer closeLog.Close()
		log = l
	}
	ready := make(chan struct{})
	a, err := agent.New(cfg, agent.Options{
		Version: version,
		Log:     log,
		Demo:    *demo,
		TLSReady: func(fp string) {
			fmt.Fprintf(stdout, "TLS certificate SHA-256 fingerprint (pin this in registers): %s\n", tlscert.Pretty(fp))
		},
		Ready: func(url string) {
			close(ready)
			fmt.Fprintf(stdout, "tezgah %s listening on %s\n", version, url)
			page := strings.Replace(strings.TrimSuffix(url, "v1/ws"), "ws", "http", 1) // ws→http, wss→https
			fmt.Fprintf(stdout, "status page: %s\n", page)
			if *demo {
				fmt.Fprintf(stdout, "demo terminals: kasa-1, kasa-2 (iyzico simulator), kasa-3 (Paywall simulator), vpos-1 (Vomsis simulator); data in %s\n", cfg.Agent.DataDir)
				fmt.Fprintln(stdout, `try: {"type":"sale","id":"R1-000123","terminal":"kasa-1","amount":"150.00"}`)
			}
			if cfg.Filedrop.Enabled {
				fmt.Fprintf(stdout, "file drop: put .json, .ndjson or .csv files in %s\n", filepath.Join(agent.FiledropDir(cfg), "inbox"))
			}
		},
		Stopped: func(dir string, pending, unknown int) {
			fmt.Fprint(stdout, stoppedMessage(dir, pending, unknown))
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "tezgah run: %v\n", err)
		return 1
	}
	reload := func() {}
	if !*demo {
		trigger, stopReload := reloader(a, path, override, ready, log)
		defer stopReload()
		reload = trigger
	}
	if *asService {
		exe, _ := installer.Executable()
		if err := installer.RunService(exe, path, a.Run, reload); err != nil {
			// The service log reaches journald through stderr, and a
			// Windows service has no stderr: log it, once.
			log.Error("agent stopped", "err", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "tezgah run: %v\n", err)
		return 1
	}
	return 0
}

// stoppedMessage tells whoever pressed Ctrl-C what is left behind.
func stoppedMessage(dir string, pending, unknown int) string {
	m := fmt.Sprintf("tezgah stopped; its data is in %s (%s)\n", dir, agent.DBFile)
	switch {
	case pending == 0:
		return m + "no request is pending: every request has its final result\n"
	case unknown > 0:
		return m + fmt.Sprintf("%d request(s) still pending, %d of them unknown (may have reached the provider): they go on, checked with the provider first, when tezgah starts again with this data directory\n", pending, unknown)
	}
	return m + fmt.Sprintf("%d request(s) still pending: they go on when tezgah starts again with this data directory\n", pending)
}

func level(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
