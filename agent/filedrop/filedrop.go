// Package filedrop is the agent's folder front door, for back-office and
// end-of-day programs that cannot speak WebSocket but can write a file.
//
// A file (.json, .ndjson or .csv) dropped into inbox/ is taken once it is
// complete (size and modification time unchanged for StableFor, and on
// Windows once it can be opened exclusively), moved to processing/, and
// each command in it goes through the agent's Backend exactly as a
// WebSocket command would: the same decoder (agent/protocol), the same
// checks before storing (Backend.Check, before any command of the file is
// stored), the same durable outbox. Ids are namespaced by a hash of the
// file's whole name and content (namer.id), so a file dropped twice, or
// resumed after a crash, maps onto the requests already stored and runs
// nothing twice, and no two files share an id. When every command is
// final the result file is written atomically next to the file in done/;
// a bad file — or a folder or link, never followed — goes to failed/ with
// an error file.
//
// What is taken is copied to a hidden snapshot in processing/ that every
// pass reads (validate, submit, report), as a stream, never whole: only
// ids a file itself defines are kept in memory. The dropped file is
// watched while it runs; if its writer was not done, the run stops and
// says changed_while_processing (see take.go). fsnotify wakes the
// watcher; a periodic rescan catches what it misses (overflow, network
// shares, files left in processing/ by a crash).
package filedrop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/outbox"
)

// Backend is what the folder needs from the agent: the methods the
// WebSocket server uses, so both front doors share one path to the outbox.
type Backend interface {
	// Submit validates and durably stores a request command; existing is
	// true when the id was known with the same body. Validation failures
	// are *protocol.Error.
	Submit(ctx context.Context, c protocol.Command) (ev outbox.Event, existing bool, err error)
	// Check makes every check Submit makes before storing — the
	// terminal, a stored original, the provider's accept-time rules —
	// and stores nothing, so a whole file is judged before any of it
	// runs. Its refusals are *protocol.Error, as Submit's.
	Check(ctx context.Context, c protocol.Command) error
	// Lookup returns a request's latest event, outbox.ErrNotFound if none.
	Lookup(ctx context.Context, id string) (outbox.Event, error)
	Events(ctx context.Context, since int64, limit int) ([]outbox.Event, error)
	Changed() <-chan struct{}
	LastSeq() int64
}

// Policies for a file with some bad commands.
const (
	// AllOrNothing runs nothing from a file with any bad command.
	AllOrNothing = "all_or_nothing"
	// SkipInvalid runs the good commands and reports the bad ones.
	SkipInvalid = "skip_invalid"
)

// MinStableFor is the shortest StableFor: a writer that pauses longer
// than this mid-file (a network copy, a program flushing per line) would
// otherwise have its file taken half written. A shorter setting is
// raised to it with a warning in the log.
const MinStableFor = time.Second

// Options configure a Folder.
type Options struct {
	Dir string // holds inbox/, processing/, done/, failed/
	// StableFor is how long a file's size and modification time must stay
	// unchanged before it is taken. Default 2s, at least MinStableFor.
	StableFor time.Duration
	// Rescan is how often the folders are listed in case a notification
	// was lost (overflow) or never comes (network shares). Default 10s.
	Rescan time.Duration
	// Poll turns change notifications off: the folders are only listed
	// every Rescan. For shares whose notifications cannot be trusted.
	Poll   bool
	Policy string // AllOrNothing (default) or SkipInvalid
	// ResultFormats lists the result files to write: "json" (default),
	// "csv".
	ResultFormats []string
	// MaxActive bounds files processed at once; one file waiting on an
	// offline terminal does not hold up the others. Default 4.
	MaxActive int
	Log       *slog.Logger
	Now       func() time.Time
	// Outcome, if set, is told how each thing put into inbox/ ended, for
	// the metrics: OutcomeDone, OutcomeChanged, OutcomeFailed,
	// OutcomeNotAFile, OutcomePutBack.
	Outcome func(outcome string)

	// watch replaces fsnotify in tests, which need to make notifications
	// overflow or never come.
	watch func(dir string) (events <-chan fsnotify.Event, errs <-chan error, stop func(), err error)
}

// Outcomes of a file, for Options.Outcome.
const (
	OutcomeDone     = "done"                     // ran; result in done/
	OutcomeChanged  = CodeChangedWhileProcessing // ran in part; result in done/ says so
	OutcomeFailed   = "failed"                   // ran nothing; error file in failed/
	OutcomeNotAFile = CodeNotAFile               // a folder or link, moved to failed/
	OutcomePutBack  = "put_back"                 // taken too early, back in inbox/
)

func (f *Folder) outcome(o string) {
	if f.opts.Outcome != nil {
		f.opts.Outcome(o)
	}
}

// Folder watches one drop folder.
type Folder struct {
	b    Backend
	opts Options
	log  *slog.Logger

	inbox, processing, done, failed string

	finished chan finished // files whose processing ended, for the loop
}

type finished struct {
	name  string
	retry bool // left in processing/ after a passing error
}

// New checks opts and creates the folders.
func New(b Backend, opts Options) (*Folder, error) {
	if opts.Dir == "" {
		return nil, errors.New("filedrop: no folder")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	switch {
	case opts.StableFor <= 0:
		opts.StableFor = 2 * time.Second
	case opts.StableFor < MinStableFor:
		opts.Log.Warn("file drop: stable_for is too short to be safe; using the minimum", "stable_for", opts.StableFor, "minimum", MinStableFor)
		opts.StableFor = MinStableFor
	}
	if opts.Rescan <= 0 {
		opts.Rescan = 10 * time.Second
	}
	switch opts.Policy {
	case "":
		opts.Policy = AllOrNothing
	case AllOrNothing, SkipInvalid:
	default:
		return nil, fmt.Errorf("filedrop: policy %q is not %s or %s", opts.Policy, AllOrNothing, SkipInvalid)
	}
	if len(opts.ResultFormats) == 0 {
		opts.ResultFormats = []string{"json"}
	}
	for _, f := range opts.ResultFormats {
		if f != "json" && f != "csv" {
			return nil, fmt.Errorf("filedrop: result format %q is not json or csv", f)
		}
	}
	if opts.MaxActive <= 0 {
		opts.MaxActive = 4
	}
	if opts.watch == nil {
		opts.watch = watchDir
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	f := &Folder{b: b, opts: opts, log: opts.Log,
		inbox: filepath.Join(opts.Dir, "inbox"), processing: filepath.Join(opts.Dir, "processing"),
		done: filepath.Join(opts.Dir, "done"), failed: filepath.Join(opts.Dir, "failed"),
		finished: make(chan finished),
	}
	for _, d := range []string{f.inbox, f.processing, f.done, f.failed} {
		// Whoever can write to inbox/ can take payments: the technician
		// grants a back-office account access deliberately.
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("filedrop: %w", err)
		}
	}
	removeTemps(f.done)
	removeTemps(f.failed)
	if err := f.upgrade(); err != nil {
		return nil, err
	}
	return f, nil
}

// watchDir asks the system to tell when dir changes.
func watchDir(dir string) (<-chan fsnotify.Event, <-chan error, func(), error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	return w.Events, w.Errors, func() { w.Close() }, nil
}

// Inbox is the folder files are dropped into.
func (f *Folder) Inbox() string { return f.inbox }

// ignored reports names that are not (yet) drop files: editors' and
// copiers' temporaries, and hidden files.
func ignored(name string) bool {
	l := strings.ToLower(name)
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "~") ||
		strings.HasSuffix(l, ".tmp") || strings.HasSuffix(l, ".part") ||
		strings.HasSuffix(l, ".crdownload") || strings.HasSuffix(l, ".partial")
}

// candidate is an inbox entry seen but not yet stable.
type candidate struct {
	size  int64
	mod   time.Time
	mode  os.FileMode // the type bits: a file, or something refused
	since time.Time   // when size and mod were last seen to change
}

// Run watches the folder until ctx is done, then waits for files in
// progress to stop; a stopped file stays in processing/ and resumes on the
// next start.
func (f *Folder) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var events <-chan fsnotify.Event
	var errs <-chan error
	if f.opts.Poll {
		f.log.Info("file drop: notifications off (poll), listing the inbox every rescan", "rescan", f.opts.Rescan)
	} else if ev, er, stop, err := f.opts.watch(f.inbox); err != nil {
		// Network shares often cannot be watched; the rescan still works.
		f.log.Warn("file drop: cannot watch the inbox, relying on the rescan", "dir", f.inbox, "rescan", f.opts.Rescan, "err", err)
	} else {
		defer stop()
		events, errs = ev, er
	}
	f.log.Info("file drop watching", "inbox", f.inbox, "stable_for", f.opts.StableFor, "rescan", f.opts.Rescan, "policy", f.opts.Policy)

	active := map[string]bool{}       // names in processing/ with a goroutine
	retryAt := map[string]time.Time{} // processing/ names to leave alone until then
	cands := map[string]*candidate{}
	stuck := map[string]bool{} // refused entries that could not be moved, logged once
	start := func(name string) {
		active[name] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			retry := f.handle(ctx, name)
			select {
			case f.finished <- finished{name, retry}:
			case <-ctx.Done():
			}
		}()
	}
	observe := func(name string) {
		if ignored(name) {
			return
		}
		// Lstat: a symbolic link is answered as a link, so a file outside
		// the folder is never read or moved by way of one.
		fi, err := os.Lstat(filepath.Join(f.inbox, name))
		if err != nil || stuck[name] {
			delete(cands, name)
			return
		}
		c := cands[name]
		if c == nil || c.size != fi.Size() || !c.mod.Equal(fi.ModTime()) || c.mode != fi.Mode().Type() {
			cands[name] = &candidate{size: fi.Size(), mod: fi.ModTime(), mode: fi.Mode().Type(), since: time.Now()}
		}
	}
	rescan := func() {
		// A file in processing/ without a goroutine was left by a crash or
		// stopped by a passing error: resume it.
		for _, name := range list(f.processing) {
			if !active[name] && !ignored(name) && len(active) < f.opts.MaxActive && !time.Now().Before(retryAt[name]) {
				delete(retryAt, name)
				f.log.Info("file drop: resuming", "file", name)
				start(name)
			}
		}
		ents, _ := os.ReadDir(f.inbox) // unreadable: empty until the next rescan
		seen := map[string]bool{}
		for _, e := range ents {
			name := e.Name()
			seen[name] = true
			observe(name)
		}
		for name := range cands {
			if !seen[name] {
				delete(cands, name)
			}
		}
		for name := range stuck {
			if !seen[name] {
				delete(stuck, name)
			}
		}
	}
	// claim moves stable files to processing/ and starts them.
	claim := func() time.Duration {
		next := time.Duration(-1)
		for name, c := range cands {
			wait := f.opts.StableFor - time.Since(c.since)
			if wait > 0 {
				if next < 0 || wait < next {
					next = wait
				}
				continue
			}
			if active[name] || len(active) >= f.opts.MaxActive {
				continue // taken when a slot or the name frees up
			}
			before := *c
			observe(name)
			if c2 := cands[name]; c2 == nil || *c2 != before {
				if c2 != nil && (next < 0 || f.opts.StableFor < next) {
					next = f.opts.StableFor
				}
				continue
			}
			if !c.mode.IsRegular() {
				// A folder (stable: its writer is done with it), a link, a
				// pipe: answered in failed/, never entered or followed.
				delete(cands, name)
				if err := f.refuseEntry(name, c.mode); err != nil {
					stuck[name] = true
					f.log.Error("file drop: cannot move what is not a file out of inbox/; remove it by hand", "name", name, "err", err)
				}
				continue
			}
			if _, err := os.Lstat(filepath.Join(f.processing, name)); err == nil {
				continue // a file of that name waits to be tried again; never overwrite it
			}
			src := filepath.Join(f.inbox, name)
			// A new take: companions of an earlier file of this name
			// (gone from processing/) must not be mistaken for its own.
			f.removeSide(name)
			if !exclusive(src) {
				continue // still open in its writer (Windows); try on the next rescan
			}
			if err := os.Rename(src, filepath.Join(f.processing, name)); err != nil {
				f.log.Warn("file drop: cannot take file", "file", name, "err", err)
				continue
			}
			syncDir(f.processing)
			delete(cands, name)
			f.log.Info("file drop: took file", "file", name, "bytes", c.size)
			start(name)
		}
		return next
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	tick := time.NewTicker(f.opts.Rescan)
	defer tick.Stop()
	rescan()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				f.log.Warn("file drop: the watcher stopped, relying on the rescan", "rescan", f.opts.Rescan)
				events = nil
				continue
			}
			if filepath.Dir(ev.Name) == filepath.Clean(f.inbox) {
				observe(filepath.Base(ev.Name))
			}
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			// Overflow (fsnotify.ErrEventOverflow; Windows' buffer fills
			// when many files land at once): notifications were lost, so
			// list the folder now rather than at the next tick.
			f.log.Warn("file drop: watcher error, rescanning now", "err", err, "overflow", errors.Is(err, fsnotify.ErrEventOverflow))
			rescan()
		case <-tick.C:
			rescan()
		case fin := <-f.finished:
			delete(active, fin.name)
			if fin.retry {
				retryAt[fin.name] = time.Now().Add(f.opts.Rescan)
			}
			rescan() // a slot is free
		case <-timer.C:
		}
		if next := claim(); next >= 0 {
			timer.Reset(next)
		}
	}
}

// list returns the names of regular files in dir; an unreadable folder
// reads as empty until the next rescan.
func list(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out
}
