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
	"os/user"
	"runtime"
	"syscall"

	"github.com/tezgah/tezgah/agent/logging"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/installer"
	"github.com/tezgah/tezgah/installer/doctor"
	"github.com/tezgah/tezgah/installer/logsink"
)

// cmdService runs install, uninstall, start, stop, restart, status and
// reload against the OS service manager.
func cmdService(action string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := config.DefaultPath()
	if action == "install" {
		fs.StringVar(&cfgPath, "config", cfgPath, "configuration file the service reads")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tezgah %s: unexpected argument %q\n", action, fs.Arg(0))
		return 2
	}
	if action == "reload" {
		return cmdReload(stdout, stderr)
	}
	exe, err := installer.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "tezgah %s: %v\n", action, err)
		return 1
	}
	if action == "install" {
		// Refuse a file the service could not start with: it would only
		// restart forever. doctor explains the rest. The service's own
		// environment (tezgah.env) holds the secrets "env:" names.
		if err := installer.UseServiceEnv(); err != nil {
			fmt.Fprintf(stderr, "tezgah install: %v\n", err)
			return 1
		}
		if _, err := config.Load(cfgPath); err != nil {
			fmt.Fprintf(stderr, "tezgah install: %v\n", err)
			return 1
		}
	}
	m, err := installer.New(exe, cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "tezgah %s: %v\n", action, err)
		return 1
	}
	m.Warn = func(msg string) { fmt.Fprintf(stderr, "tezgah %s: warning: %s\n", action, msg) }
	switch action {
	case "status":
		fmt.Fprintf(stdout, "tezgah service: %s\n", m.State())
		return 0
	case "install":
		err = m.Install()
	case "uninstall":
		err = m.Uninstall()
	default:
		err = m.Control(action)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tezgah %s: %v\n", action, err)
		return 1
	}
	switch action {
	case "install":
		fmt.Fprintf(stdout, "installed the tezgah service (config %s); start it with `tezgah start`, check it with `tezgah doctor`\n", cfgPath)
	case "uninstall":
		fmt.Fprintln(stdout, "removed the tezgah service; the configuration and the data directory are kept")
	default:
		fmt.Fprintf(stdout, "tezgah service: %s\n", m.State())
	}
	return 0
}

// cmdReload asks the running service to re-read its configuration.
func cmdReload(stdout, stderr io.Writer) int {
	if err := installer.Reload(); err != nil {
		fmt.Fprintf(stderr, "tezgah reload: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, "asked the tezgah service to reload its configuration; its log shows the outcome (journalctl -u tezgah; Windows: Event Log)")
	return 0
}

// reloader re-reads the file at path on SIGHUP or when trigger is called
// (a Windows service's "paramchange"), once the agent runs, and applies
// it. A file that does not load changes nothing: the agent keeps running
// on what it has.
func reloader(a *agent.Agent, path string, override func(*config.Config), ready <-chan struct{}, log *slog.Logger) (trigger, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	kick := make(chan struct{}, 1)
	trigger = func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ready:
		case <-ctx.Done():
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			case <-kick:
			}
			cfg, err := config.Load(path)
			if err != nil {
				log.Error("reload: configuration not applied; still running on the previous one", "err", err)
				continue
			}
			override(cfg)
			if _, err := a.Reload(ctx, cfg); err != nil && !errors.Is(err, agent.ErrDemoReload) {
				log.Error("reload: configuration not applied; still running on the previous one", "err", err)
			}
		}
	}()
	return trigger, func() { signal.Stop(hup); cancel(); <-done }
}

// serviceLog sends the service's logs to the rotated file in the data
// directory and to the OS log: journald reads standard error on Linux;
// Windows services have none, so records go to the Event Log.
func serviceLog(cfg *config.Config, path string, stderr io.Writer) (*slog.Logger, io.Closer, error) {
	opts := logsink.Options{Level: level(cfg.Agent.LogLevel)}
	if runtime.GOOS == "windows" {
		exe, _ := installer.Executable()
		sl, err := installer.SystemLogger(exe, path)
		if err != nil {
			return nil, nil, err
		}
		opts.System = sl
	} else {
		opts.Stderr = stderr
	}
	h, closer, err := logsink.New(cfg.Agent.DataDir, opts)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(logging.Redact(h)), closer, nil // secrets and card numbers never reach a log
}

// cmdDoctor checks the installation; it exits 1 when any check fails.
func cmdDoctor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultPath(), "configuration file to check")
	asJSON := fs.Bool("json", false, "print the report as JSON, for scripts")
	noService := fs.Bool("no-service", false, "skip the service check (for a config that is not the installed one)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// Check the file with the secrets the service gets, not the shell's.
	if err := installer.UseServiceEnv(); err != nil {
		fmt.Fprintf(stderr, "tezgah doctor: %v\n", err)
	}
	opts := doctor.Options{ConfigPath: *cfgPath, Version: version}
	if !*noService {
		if _, err := user.Lookup(installer.User); err == nil && runtime.GOOS == "linux" {
			opts.ServiceUser = installer.User
		}
		opts.ServiceState = func() string {
			exe, err := installer.Executable()
			if err != nil {
				return "unknown (" + err.Error() + ")"
			}
			m, err := installer.New(exe, *cfgPath)
			if err != nil {
				return "unknown (" + err.Error() + ")"
			}
			return m.State()
		}
	}
	rs := doctor.Run(context.Background(), opts)
	if *asJSON {
		doctor.WriteJSON(stdout, rs)
	} else {
		doctor.WriteTable(stdout, rs)
	}
	if doctor.Failed(rs) {
		return 1
	}
	return 0
}
