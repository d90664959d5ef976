package web

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The data directory's disk space comes from the OS (statfs,
// GetDiskFreeSpaceEx); run under Wine too for the Windows build.
func TestDiskSpace(t *testing.T) {
	dir := t.TempDir()
	free, size, err := diskSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	if free == 0 || size < free {
		t.Errorf("free %d of %d bytes", free, size)
	}
	t.Logf("%s: %d of %d bytes free", dir, free, size)
	if _, _, err := diskSpace(dir + "/no/such/dir"); err == nil {
		t.Error("no error for a missing directory")
	}
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
