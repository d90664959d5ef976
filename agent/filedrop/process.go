package filedrop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/outbox"
)

// maxProblems bounds what the error file lists: a file with the wrong
// header has the same problem on every row, and the first ones say it.
const maxProblems = 200

// problem is one bad place in a file.
type problem struct {
	Line int
	Err  *protocol.Error
}

func (p problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d", p.Line)
	} else {
		b.WriteString("file")
	}
	if p.Err.Field != "" {
		fmt.Fprintf(&b, ", field %s", p.Err.Field)
	}
	fmt.Fprintf(&b, ": %s: %s", p.Err.Code, p.Err.Message)
	return b.String()
}

// run is the processing of one file in processing/.
type run struct {
	f      *Folder
	name   string
	path   string // the file as dropped, in processing/
	snap   string // the private copy every pass reads (see take)
	format format
	hash   string // hex SHA-256 of the content taken
	size   int64  // bytes taken
	mod    time.Time
	comma  rune // a CSV input's separator, reused for a CSV result

	// resumed: the file was already being run before this start (or a
	// passing error), so some of its commands may be stored.
	resumed bool
	// changed is set once the dropped file no longer holds what was
	// taken: it was still being written. Nothing more is submitted.
	changed   *protocol.Error
	submitted int // Submit calls made by this run
	// legacy holds, for a file an older version took, the ids it
	// stored, by own id; nil for every other file.
	legacy map[string]string
	err    error // a failed legacy lookup, reported by each

	problems []problem // the first maxProblems
	bad      int       // all bad commands
	good     int
	fatal    bool                    // the file could not be read to its end
	invalid  map[int]*protocol.Error // by command number: not run
	rejected map[int]*protocol.Error // by command number: refused by the agent at submit
}

// store, admissible and lookup are a run's only ways to the agent's
// requests: how a file's commands are scoped in the outbox is decided
// here (with namer.id, which makes their ids) and nowhere else.
func (r *run) store(ctx context.Context, c protocol.Command) (outbox.Event, bool, error) {
	return r.f.b.Submit(ctx, c)
}

func (r *run) admissible(ctx context.Context, c protocol.Command) error {
	return r.f.b.Check(ctx, c)
}

func (r *run) lookup(ctx context.Context, id string) (outbox.Event, error) {
	return r.f.b.Lookup(ctx, id)
}

// handle processes one file and reports whether it stays in processing/
// to be tried again (shutdown, or a passing error such as a busy disk).
func (f *Folder) handle(ctx context.Context, name string) (retry bool) {
	err := f.process(ctx, name)
	if err == nil {
		return false
	}
	if ctx.Err() == nil {
		f.log.Error("file drop: file stays in processing/ and is tried again", "file", name, "err", err)
	}
	return true
}

func (f *Folder) process(ctx context.Context, name string) error {
	r := &run{f: f, name: name, path: filepath.Join(f.processing, name), snap: f.side(name, sideSnapshot), comma: ',',
		invalid: map[int]*protocol.Error{}, rejected: map[int]*protocol.Error{}}
	format, ok := formatOf(name)
	if !ok {
		r.add(0, 0, protocol.Errorf(CodeUnsupportedFormat, "", "%q is not a .json, .ndjson or .csv file", filepath.Ext(name)))
		r.fatal = true
		return r.reject()
	}
	r.format = format
	if err := r.take(); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			f.removeSide(name)
			return nil // taken away by hand while we were busy
		}
		r.add(0, 0, protocol.Errorf(CodeUnreadable, "", "cannot read the file: %v", err))
		r.fatal = true
		return r.reject()
	}
	if _, err := os.Stat(f.side(name, sideLegacy)); err == nil {
		r.legacy = map[string]string{}
	}
	if r.changed != nil && !r.resumed {
		return r.putBack()
	}
	if err := r.validate(ctx); err != nil {
		return err
	}
	if r.good == 0 && r.bad == 0 {
		r.add(0, 0, protocol.Errorf(CodeNoCommands, "", "the file holds no commands"))
	}
	if r.changed == nil {
		// Before anything runs: a file cut short by its writer is bad, but
		// only because it was taken too early.
		r.checkChanged(true)
	}
	if r.changed == nil && (r.fatal || r.good == 0 || (r.bad > 0 && f.opts.Policy == AllOrNothing)) {
		return r.reject()
	}
	since := f.b.LastSeq()
	var pending map[string]bool
	var err error
	if r.changed == nil {
		if pending, err = r.submit(ctx); err != nil {
			return err
		}
	}
	if r.changed != nil && !r.resumed && r.submitted == 0 {
		return r.putBack() // nothing of it can be stored
	}
	if r.changed != nil {
		// Stop: report what of the file is stored, and nothing more.
		var stored int
		if pending, stored, err = r.follow(ctx); err != nil {
			return err
		}
		if stored == 0 {
			return r.putBack()
		}
	}
	if err := r.wait(ctx, since, pending); err != nil {
		return err
	}
	if r.changed == nil {
		r.checkChanged(true)
	}
	return r.finish(ctx)
}

func (r *run) add(line, n int, e *protocol.Error) {
	r.bad++
	if n > 0 {
		r.invalid[n] = e
	}
	if len(r.problems) < maxProblems {
		r.problems = append(r.problems, problem{Line: line, Err: e})
	}
}

// each reads the file from the start and calls fn for every command with
// its decoding error, if any. A *fileError ends the reading.
func (r *run) each(ctx context.Context, fn func(c command, perr *protocol.Error) error) error {
	fh, err := os.Open(r.snap)
	if err != nil {
		return fmt.Errorf("open %s: %w", r.name, err)
	}
	defer fh.Close()
	var lines io.Reader
	if r.format == formatJSON {
		lf, err := os.Open(r.snap)
		if err != nil {
			return fmt.Errorf("open %s: %w", r.name, err)
		}
		defer lf.Close()
		lines = lf
	}
	rd, err := newReader(r.format, fh, lines)
	if err != nil {
		return err
	}
	if cr, ok := rd.(*csvReader); ok {
		r.comma = cr.r.Comma
	}
	nm := r.namer(ctx)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := rd.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		c, perr := nm.decode(e)
		if r.err != nil {
			return r.err
		}
		if err := fn(c, perr); err != nil {
			return err
		}
	}
}

// validate reads the whole file once before anything runs, so that under
// all_or_nothing a bad last line stops the first one too. It checks what
// can be checked without storing: the protocol, the terminal names, and
// that an original_id outside the file is known.
func (r *run) validate(ctx context.Context) error {
	err := r.each(ctx, func(c command, perr *protocol.Error) error {
		if perr == nil {
			var err error
			if perr, err = r.check(ctx, c); err != nil {
				return err
			}
		}
		if perr != nil {
			r.add(c.Line, c.N, perr)
			return nil
		}
		r.good++
		return nil
	})
	var fe *fileError
	if errors.As(err, &fe) {
		r.fatal = true
		r.add(fe.Line, 0, fe.Err)
		return nil
	}
	return err
}

func (r *run) check(ctx context.Context, c command) (*protocol.Error, error) {
	cmd := c.Cmd
	if cmd.Type == protocol.TypeQuery {
		if _, err := r.lookup(ctx, cmd.ID); errors.Is(err, outbox.ErrNotFound) {
			return protocol.Errorf(protocol.CodeNotFound, "id", "no request with id %q (unknown, or older than the retention period)", cmd.ID), nil
		} else if err != nil {
			return nil, err
		}
		return nil, nil
	}
	if o := c.Original; o != nil {
		// The checks the agent makes against a stored sale, made here
		// against the sale in this file, which is not stored yet.
		switch {
		case o.cmd == nil:
			return protocol.Errorf(protocol.CodeInvalidOriginal, "original_id", "the command on line %d is bad itself", o.line), nil
		case o.cmd.Type != protocol.TypeSale:
			return protocol.Errorf(protocol.CodeInvalidOriginal, "original_id", "line %d is a %s, not a sale", o.line, o.cmd.Type), nil
		case cmd.Type == protocol.TypeRefund && cmd.Amount.Currency != o.cmd.Amount.Currency:
			return protocol.Errorf(protocol.CodeInvalidField, "currency", "the sale on line %d is in %s; refund in the same currency", o.line, o.cmd.Amount.Currency), nil
		case cmd.Type == protocol.TypeRefund && cmd.Amount.Minor > o.cmd.Amount.Minor:
			return protocol.Errorf(protocol.CodeAmountExceeds, "amount", "refund %s is more than the sale's %s on line %d", cmd.Amount, o.cmd.Amount, o.line), nil
		}
		cmd.OriginalID = "" // checked above; Check would look for it stored
	}
	// Everything else the agent checks before storing — the terminal, a
	// stored original, the provider's own accept-time rules — through the
	// very checks Submit makes, so all_or_nothing sees every refusal
	// before the first command is stored.
	err := r.admissible(ctx, cmd)
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if c.Original == nil && pe.Code == protocol.CodeUnknownOriginal {
			pe = protocol.Errorf(protocol.CodeUnknownOriginal, "original_id",
				"no sale with id %q in this file or in the agent (unknown, or older than the retention period)", cmd.OriginalID)
		}
		return pe, nil
	}
	return nil, err
}

// submit hands every good command to the backend, in file order. A
// command already stored (a file dropped again, or resumed after a crash)
// comes back as existing and is not run again. It returns the requests
// not yet final.
func (r *run) submit(ctx context.Context) (map[string]bool, error) {
	pending := map[string]bool{}
	err := r.each(ctx, func(c command, perr *protocol.Error) error {
		if perr != nil || r.invalid[c.N] != nil || c.Cmd.Type == protocol.TypeQuery {
			return nil
		}
		if r.checkChanged(false) {
			return errStop
		}
		r.submitted++ // counted before: a failed Submit may have stored it
		ev, _, err := r.store(ctx, c.Cmd)
		var pe *protocol.Error
		if errors.As(err, &pe) {
			switch pe.Code {
			case protocol.CodeUnavailable, protocol.CodeShuttingDown, protocol.CodeRateLimited:
				return fmt.Errorf("submit line %d: %w", c.Line, err) // nothing stored: try the file again
			}
			r.rejected[c.N] = pe
			return nil
		}
		if err != nil {
			return fmt.Errorf("submit line %d: %w", c.Line, err)
		}
		if !ev.State.Final() {
			pending[c.Cmd.ID] = true
		}
		return nil
	})
	if err != nil && err != errStop {
		return nil, fmt.Errorf("filedrop: %s: %w", r.name, err)
	}
	if err == nil {
		r.checkChanged(true)
	}
	return pending, nil
}

// errStop ends a pass early without being a failure.
var errStop = errors.New("stop")

// follow is submit for a file that changed after it was taken: it stores
// nothing, and finds which of the file's commands are stored (by this run
// before the change, or before a crash) and which of those are not final.
func (r *run) follow(ctx context.Context) (pending map[string]bool, stored int, err error) {
	pending = map[string]bool{}
	err = r.each(ctx, func(c command, perr *protocol.Error) error {
		if perr != nil || r.invalid[c.N] != nil || c.Cmd.Type == protocol.TypeQuery {
			return nil
		}
		ev, err := r.lookup(ctx, c.Cmd.ID)
		if errors.Is(err, outbox.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", c.Line, err)
		}
		stored++
		if !ev.State.Final() {
			pending[c.Cmd.ID] = true
		}
		return nil
	})
	var fe *fileError
	if errors.As(err, &fe) {
		err = nil // nothing after it could have run
	}
	if err != nil {
		return nil, 0, fmt.Errorf("filedrop: %s: %w", r.name, err)
	}
	return pending, stored, nil
}

// wait follows the event log from since until every pending request has
// a final event. since was taken before the first submit, so no final
// event can slip between submitting and waiting.
func (r *run) wait(ctx context.Context, since int64, pending map[string]bool) error {
	const batch = 1000
	for len(pending) > 0 {
		changed := r.f.b.Changed()
		evs, err := r.f.b.Events(ctx, since, batch)
		if err != nil {
			return fmt.Errorf("filedrop: %s: %w", r.name, err)
		}
		for _, ev := range evs {
			since = ev.Seq
			if ev.State.Final() {
				delete(pending, ev.ID)
			}
		}
		if len(evs) == batch || len(pending) == 0 {
			continue
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// reject moves a file that runs nothing to failed/ with its error file.
func (r *run) reject() error {
	f := r.f
	var b strings.Builder
	fmt.Fprintf(&b, "tezgah did not run %s: nothing in it was sent to a payment terminal.\r\n", r.name)
	if r.hash != "" {
		fmt.Fprintf(&b, "File: %s (sha256 %s)\r\n", r.name, r.hash)
	}
	switch {
	case r.fatal:
		b.WriteString("The file could not be read to its end; fix it and drop it again.\r\n")
	case r.good == 0:
		b.WriteString("No command in the file is valid; fix it and drop it again.\r\n")
	default:
		fmt.Fprintf(&b, "Policy %s: a file with any bad command runs nothing. Fix the lines below and drop the file again;\r\n"+
			"its other %d commands were checked and are fine.\r\n", AllOrNothing, r.good)
	}
	r.writeProblems(&b)
	if err := writeAtomic(f.failed, companion(r.name, ".error.txt"), []byte("\ufeff"+b.String())); err != nil {
		return fmt.Errorf("filedrop: %s: %w", r.name, err)
	}
	os.Remove(filepath.Join(f.failed, companion(r.name, ".result.json")))
	if err := r.moveTo(f.failed); err != nil {
		return fmt.Errorf("filedrop: %s: %w", r.name, err)
	}
	f.outcome(OutcomeFailed)
	f.log.Warn("file drop: file failed", "file", r.name, "problems", r.bad, "first", r.problems[0].String())
	return nil
}

func (r *run) writeProblems(b *strings.Builder) {
	if r.bad == 1 {
		b.WriteString("\r\n1 problem:\r\n")
	} else {
		fmt.Fprintf(b, "\r\n%d problems:\r\n", r.bad)
	}
	for _, p := range r.problems {
		b.WriteString(p.String())
		b.WriteString("\r\n")
	}
	if r.bad > len(r.problems) {
		fmt.Fprintf(b, "... and %d more like these.\r\n", r.bad-len(r.problems))
	}
}

// finish writes the result files, then moves the file to done/. A crash
// before the move leaves the file in processing/; it resumes, finds every
// command stored, and writes the same results again.
func (r *run) finish(ctx context.Context) error {
	f := r.f
	if err := r.writeResults(ctx); err != nil {
		return fmt.Errorf("filedrop: %s: %w", r.name, err)
	}
	errName := companion(r.name, ".error.txt")
	if r.bad > 0 || r.changed != nil {
		var b strings.Builder
		if r.changed != nil {
			fmt.Fprintf(&b, "tezgah stopped running %s: %s: %s\r\n"+
				"The commands that ran are in %s.result.json with their results; those marked %s did not run.\r\n"+
				"Do not drop the whole file again: the commands that ran would run again under new ids.\r\n",
				r.name, r.changed.Code, r.changed.Message, r.name, StatusNotRun)
		} else {
			fmt.Fprintf(&b, "tezgah ran %d commands of %s and left out %d bad ones (policy %s); see %s.result.json.\r\n",
				r.good, r.name, r.bad, SkipInvalid, r.name)
		}
		fmt.Fprintf(&b, "File: %s (sha256 %s)\r\n", r.name, r.hash)
		if r.bad > 0 {
			r.writeProblems(&b)
		}
		if err := writeAtomic(f.done, errName, []byte("\ufeff"+b.String())); err != nil {
			return fmt.Errorf("filedrop: %s: %w", r.name, err)
		}
	} else {
		os.Remove(filepath.Join(f.done, errName)) // from an earlier file of this name
	}
	if err := r.moveTo(f.done); err != nil {
		return fmt.Errorf("filedrop: %s: %w", r.name, err)
	}
	if r.changed != nil {
		f.outcome(OutcomeChanged)
		f.log.Warn("file drop: file changed while it was processed; what was added did not run", "file", r.name, "err", r.changed.Message)
	} else {
		f.outcome(OutcomeDone)
	}
	f.log.Info("file drop: file done", "file", r.name, "commands", r.good+r.bad, "bad", r.bad, "rejected", len(r.rejected))
	return nil
}
