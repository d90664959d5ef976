package filedrop

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/syncbuf"

	"github.com/fsnotify/fsnotify"

	"github.com/tezgah/tezgah/internal/testwait"
)

// runFolder runs a folder whose notifications the test controls. The
// files it drops have an unsupported extension, so they go to failed/
// without asking the agent anything: where they end shows they were
// found. (No Backend is needed for that; none is given.) The file first
// is in inbox/ before the folder starts, so the first listing finds it.
func runFolder(t *testing.T, rescan time.Duration, watch func(string) (<-chan fsnotify.Event, <-chan error, func(), error), first string) (*Folder, *syncbuf.Buffer) {
	t.Helper()
	logs := &syncbuf.Buffer{}
	f, err := New(nil, Options{Dir: t.TempDir(), StableFor: MinStableFor, Rescan: rescan,
		Log: slog.New(slog.NewTextHandler(logs, nil)), watch: watch})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.inbox, first), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f, logs
}

func (f *Folder) waitFailed(t *testing.T, name string, within time.Duration, logs *syncbuf.Buffer) {
	t.Helper()
	testwait.For(t, name+" in failed/", within, func() bool {
		_, err := os.Stat(filepath.Join(f.failed, name))
		return err == nil
	}, logs.String)
}

// TestOverflowRescansAtOnce: when the watcher reports lost notifications
// (fsnotify.ErrEventOverflow, Windows' buffer filling up as many files
// land at once) the folder is listed at once — not at the next rescan,
// here an hour away — and the log says so.
func TestOverflowRescansAtOnce(t *testing.T) {
	errs := make(chan error)
	events := make(chan fsnotify.Event) // the lost notifications never come
	f, logs := runFolder(t, time.Hour, func(string) (<-chan fsnotify.Event, <-chan error, func(), error) {
		return events, errs, func() {}, nil
	}, "first.txt")
	// The file present at start is found by the first listing; once it
	// is answered, that listing is over.
	f.waitFailed(t, "first.txt", 30*time.Second, logs)

	os.WriteFile(filepath.Join(f.inbox, "second.txt"), []byte("x"), 0o600)
	select {
	case errs <- fsnotify.ErrEventOverflow:
	case <-time.After(10 * time.Second):
		t.Fatal("the folder does not read watcher errors")
	}
	f.waitFailed(t, "second.txt", 30*time.Second, logs)
	if !strings.Contains(logs.String(), `msg="file drop: watcher error, rescanning now"`) || !strings.Contains(logs.String(), "overflow=true") {
		t.Errorf("no log line for the overflow:\n%s", logs)
	}
}

// TestRescanWithoutNotifications: with a watcher that never says
// anything (a network share) or none at all, the periodic rescan finds
// files.
func TestRescanWithoutNotifications(t *testing.T) {
	silent := func(string) (<-chan fsnotify.Event, <-chan error, func(), error) {
		return make(chan fsnotify.Event), make(chan error), func() {}, nil
	}
	broken := func(string) (<-chan fsnotify.Event, <-chan error, func(), error) {
		return nil, nil, nil, errors.New("not supported on this share")
	}
	for name, watch := range map[string]func(string) (<-chan fsnotify.Event, <-chan error, func(), error){"silent": silent, "broken": broken} {
		t.Run(name, func(t *testing.T) {
			f, logs := runFolder(t, 200*time.Millisecond, watch, "first.txt")
			// Past the first listing, as above.
			f.waitFailed(t, "first.txt", 30*time.Second, logs)
			os.WriteFile(filepath.Join(f.inbox, "later.txt"), []byte("x"), 0o600)
			f.waitFailed(t, "later.txt", 30*time.Second, logs)
		})
	}
}

// TestStableForFloor: a stable_for below the floor is raised to it, with
// a warning.
func TestStableForFloor(t *testing.T) {
	logs := &syncbuf.Buffer{}
	f, err := New(nil, Options{Dir: t.TempDir(), StableFor: 100 * time.Millisecond, Log: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if f.opts.StableFor != MinStableFor || !strings.Contains(logs.String(), "stable_for is too short") {
		t.Errorf("stable_for %v, log:\n%s", f.opts.StableFor, logs)
	}
}
