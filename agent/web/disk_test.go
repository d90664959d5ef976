package web

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The data directory's disk space as metrics (internal/diskspace reads
// it from the OS).
func TestDiskSpace(t *testing.T) {
	dir := t.TempDir()
	// A directory that cannot be measured exports nothing, never a 0
	// that would page someone about a full disk.
	if n := testutil.CollectAndCount(diskCollector{dir: dir + "/gone", log: discard()}); n != 0 {
		t.Errorf("%d series for a missing directory", n)
	}
	if problems, err := testutil.CollectAndLint(diskCollector{dir: dir, log: discard()}); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	if n := testutil.CollectAndCount(diskCollector{dir: dir, log: discard()}); n != 2 {
		t.Errorf("%d series, want free and size", n)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
