package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/installer"
)

// cmdBackup writes a consistent copy of the outbox database to a new
// file, while the agent runs: SQLite's VACUUM INTO reads one snapshot
// (WAL included) and writes a self-contained database.
func cmdBackup(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", config.DefaultPath(), "configuration file (for agent.data_dir)")
	dataDir := fs.String("data-dir", "", "data directory (instead of the config's; the service's is "+config.ServiceDataDir()+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: tezgah backup [--config FILE | --data-dir DIR] BACKUP-FILE")
		return 2
	}
	dir := *dataDir
	if dir == "" {
		if err := installer.UseServiceEnv(); err != nil {
			fmt.Fprintf(stderr, "tezgah backup: %v\n", err)
			return 1
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "tezgah backup: %v\n", err)
			return 1
		}
		dir = cfg.Agent.DataDir
		if cfg.DataDirDefaulted() {
			dir = config.ServiceDataDir()
		}
	}
	dest, err := filepath.Abs(fs.Arg(0))
	if err == nil {
		err = backup(context.Background(), filepath.Join(dir, agent.DBFile), dest)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tezgah backup: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "backed up %s to %s\n", filepath.Join(dir, agent.DBFile), dest)
	return 0
}

func backup(ctx context.Context, src, dest string) error {
	if _, err := os.Stat(src); err != nil {
		return err
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("%s exists; choose a new file name", dest)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dest); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	// It holds payment references: only the owner may read it.
	return os.Chmod(dest, 0o600)
}
