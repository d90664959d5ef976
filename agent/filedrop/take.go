package filedrop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/outbox"
)

// CodeChangedWhileProcessing: the dropped file changed after it was
// taken — its writer was still writing. What was stored is reported;
// nothing more of the file runs.
const CodeChangedWhileProcessing = "changed_while_processing"

// StatusNotRun is a command of a file that changed after it was taken
// and was not stored before the change was seen.
const StatusNotRun = "not_run"

// Hidden files the folder keeps beside a file in processing/. Their
// names hash the file's name, so a 255-byte name still fits the file
// system's limit. Names starting with "." are never taken or resumed.
const (
	// sideSnapshot is the private copy of what was taken: every pass
	// reads it, so a writer still appending to the dropped file cannot
	// change what runs, and a resume after a crash finds the same
	// content hash — the same ids — even if the file changed meanwhile.
	sideSnapshot = "snap"
	// sideLegacy marks a file an older version took before the upgrade:
	// its stored commands have that version's ids (see legacyID).
	sideLegacy = "legacy"
	// schemeMark in processing/ says the version that gives ids by
	// fileKey has started here; files present before it are legacy.
	schemeMark = ".ids-v2"
)

func (f *Folder) side(name, kind string) string {
	sum := sha256.Sum256([]byte(name))
	return filepath.Join(f.processing, "."+kind+"-"+hex.EncodeToString(sum[:16]))
}

// removeSide deletes a file's hidden companions once it has left
// processing/.
func (f *Folder) removeSide(name string) {
	os.Remove(f.side(name, sideSnapshot))
	os.Remove(f.side(name, sideLegacy))
}

// upgrade runs once at start. The first time this version starts on a
// folder, every file in processing/ was taken by an older one and is
// marked legacy; afterwards it removes companions whose file has gone (a
// crash after the move out) and half-written snapshots.
func (f *Folder) upgrade() error {
	names := map[string]bool{}
	for _, name := range list(f.processing) {
		if !ignored(name) {
			names[filepath.Base(f.side(name, sideSnapshot))] = true
			names[filepath.Base(f.side(name, sideLegacy))] = true
		}
	}
	mark := filepath.Join(f.processing, schemeMark)
	if _, err := os.Stat(mark); errors.Is(err, os.ErrNotExist) {
		for _, name := range list(f.processing) {
			if ignored(name) {
				continue
			}
			if err := writeAtomic(f.processing, filepath.Base(f.side(name, sideLegacy)), nil); err != nil {
				return fmt.Errorf("filedrop: mark %s: %w", name, err)
			}
			f.log.Info("file drop: file left by an older version resumes with that version's ids", "file", name)
		}
		if err := writeAtomic(f.processing, schemeMark, []byte("file ids hash the whole file name (tezgah filedrop v2)\n")); err != nil {
			return fmt.Errorf("filedrop: %w", err)
		}
	}
	ents, _ := os.ReadDir(f.processing)
	for _, e := range ents {
		n := e.Name()
		stale := strings.HasPrefix(n, "."+sideSnapshot+"-") || strings.HasPrefix(n, "."+sideLegacy+"-")
		if stale && !names[n] || strings.HasSuffix(n, ".tmp") && strings.HasPrefix(n, ".") {
			os.Remove(filepath.Join(f.processing, n))
		}
	}
	return nil
}

// take makes the snapshot of a file just moved to processing/, or finds
// the one made before a crash, and records what the file was when taken.
func (r *run) take() error {
	if _, err := os.Stat(r.snap); err == nil {
		r.resumed = true
		hash, size, err := hashFile(r.snap)
		if err != nil {
			return err
		}
		r.hash, r.size = hash, size
		fi, err := os.Stat(r.path)
		if err != nil {
			return err
		}
		r.mod = fi.ModTime()
		r.checkChanged(true)
		return nil
	}
	src, err := os.Open(r.path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := createAtomic(r.f.processing, filepath.Base(r.snap))
	if err != nil {
		return err
	}
	defer dst.abort()
	h := sha256.New()
	n, err := io.Copy(dst, io.TeeReader(src, h))
	if err != nil {
		return err
	}
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	if err := dst.commit(); err != nil {
		return err
	}
	r.hash, r.size, r.mod = hex.EncodeToString(h.Sum(nil)), n, fi.ModTime()
	if fi.Size() != n {
		r.changed = r.changeError(fi.Size())
	}
	return nil
}

func hashFile(path string) (string, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// checkChanged reports whether the dropped file no longer is what was
// taken, and sets r.changed when so. Its size and modification time are
// cheap to look at before every command; full also compares the content,
// for a writer that rewrites in place within the clock's resolution.
func (r *run) checkChanged(full bool) bool {
	if r.changed != nil {
		return true
	}
	fi, err := os.Stat(r.path)
	switch {
	case err != nil:
		r.changed = protocol.Errorf(CodeChangedWhileProcessing, "", "the file was removed from processing/ while it ran (%v)", err)
	case fi.Size() != r.size || !fi.ModTime().Equal(r.mod):
		r.changed = r.changeError(fi.Size())
	case full:
		if hash, _, err := hashFile(r.path); err != nil || hash != r.hash {
			r.changed = r.changeError(fi.Size())
		}
	}
	return r.changed != nil
}

func (r *run) changeError(now int64) *protocol.Error {
	return protocol.Errorf(CodeChangedWhileProcessing, "",
		"the file changed after tezgah took it (%d bytes when taken, %d now): its program was still writing it. "+
			"Only commands in the %d bytes taken could run; nothing written later did. "+
			"Write files under a temporary name (.tmp, .part) and rename them when complete",
		r.size, now, r.size)
}

// putBack returns a file of which nothing is stored to inbox/: it was
// taken before its writer had finished, and is taken again once it has
// been still for stable_for.
func (r *run) putBack() error {
	f := r.f
	dst := filepath.Join(f.inbox, r.name)
	if _, err := os.Lstat(dst); err == nil {
		// A new file of that name came meanwhile; keep both by failing
		// this one with the reason.
		r.add(0, 0, r.changed)
		r.fatal = true
		return r.reject()
	}
	if err := os.Rename(r.path, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("filedrop: %s: put back: %w", r.name, err)
	}
	syncDir(f.inbox)
	f.removeSide(r.name)
	syncDir(f.processing)
	f.outcome(OutcomePutBack)
	f.log.Warn("file drop: file changed after it was taken (still being written); nothing of it ran, it is back in inbox/ until it is complete",
		"file", r.name, "bytes_taken", r.size)
	return nil
}

// moveTo moves the finished file out of processing/, then forgets its
// companions; a crash between the two leaves only companions, which the
// next start removes. A file removed by hand while it ran is replaced by
// what was taken, so done/ always holds the file its result speaks of.
func (r *run) moveTo(dir string) error {
	err := os.Rename(r.path, filepath.Join(dir, r.name))
	if errors.Is(err, os.ErrNotExist) {
		err = os.Rename(r.snap, filepath.Join(dir, r.name))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	syncDir(dir)
	r.f.removeSide(r.name)
	syncDir(r.f.processing)
	return nil
}

// namer returns the namer for this run's passes. For a legacy file it
// picks, command by command, the id the older version stored, if any:
// the file may have been half run under those ids.
func (r *run) namer(ctx context.Context) *namer {
	n := newNamer(r.name, r.hash, r.format)
	if r.legacy == nil {
		return n
	}
	n.legacy = func(own string) (string, bool) {
		if id, ok := r.legacy[own]; ok {
			return id, id != ""
		}
		id := legacyID(r.name, r.hash, own)
		_, err := r.lookup(ctx, id)
		switch {
		case errors.Is(err, outbox.ErrNotFound):
			id = ""
		case err != nil:
			r.err = fmt.Errorf("look up %s: %w", id, err)
			return "", false
		}
		r.legacy[own] = id
		return id, id != ""
	}
	return n
}

// refusedEntry answers something in inbox/ that is not a file: a folder,
// a symbolic link (never followed: it could point anywhere the service
// account can read), a pipe. It moves the entry itself to failed/ with
// an error file saying why, so the program that put it there gets an
// answer like for any bad file.
func (f *Folder) refuseEntry(name string, mode os.FileMode) error {
	var what string
	switch {
	case mode&os.ModeSymlink != 0:
		what = "it is a symbolic link (or shortcut), and links are never followed: copy the file itself into inbox/"
	case mode.IsDir():
		what = "it is a folder: put the files themselves into inbox/, not a folder of them"
	default:
		what = fmt.Sprintf("it is not a regular file (%v)", mode.Type())
	}
	perr := protocol.Errorf(CodeNotAFile, "", "%s", what)
	text := fmt.Sprintf("\ufefftezgah did not run %s: nothing was sent to a payment terminal.\r\n%s: %s.\r\n", name, perr.Code, perr.Message)
	if err := writeAtomic(f.failed, companion(name, ".error.txt"), []byte(text)); err != nil {
		return err
	}
	// Rename moves the link or the folder, never what a link points to.
	if err := os.Rename(filepath.Join(f.inbox, name), filepath.Join(f.failed, name)); err != nil {
		return err
	}
	syncDir(f.failed)
	syncDir(f.inbox)
	f.outcome(OutcomeNotAFile)
	f.log.Warn("file drop: refused something that is not a file", "name", name, "why", what)
	return nil
}

// CodeNotAFile: a folder, link or other non-file was put in inbox/.
const CodeNotAFile = "not_a_file"
