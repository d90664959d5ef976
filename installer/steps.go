package installer

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// A Step is one change an install makes to the machine, with what takes
// it back. Install runs its steps as one transaction: when a required
// step fails, the steps already done are undone, last first, so a failed
// install leaves no half-registered service behind (Wine 8.0, and a
// Windows whose policy refuses a setting, both fail half-way).
type Step struct {
	// Name says what the step sets, for messages: "recovery actions".
	Name string
	// Do makes the change. It returns the function that takes it back,
	// or nil when there is nothing to take back (the change was already
	// there, or it is harmless to leave).
	Do func() (undo func() error, err error)
	// Optional steps are settings the service can run without. When the
	// system refuses one, the install goes on and the refusal becomes a
	// warning that says what is missing and how to set it by hand.
	Optional bool
	// Without says, for an optional step, what the service lacks when
	// the step is refused: "the service is not restarted after a crash".
	Without string
}

// runSteps runs steps in order. It returns the warnings of the optional
// steps that failed and, when a required step fails, that step's error
// joined with any error met while undoing the others.
func runSteps(steps []Step) (warnings []string, err error) {
	var undos []func() error
	var names []string
	for _, s := range steps {
		undo, err := s.Do()
		if err != nil && s.Optional {
			warnings = append(warnings, fmt.Sprintf("%s: the system refused it (%v); %s", s.Name, err, s.Without))
			continue
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", s.Name, err)
			for i := len(undos) - 1; i >= 0; i-- {
				if uerr := undos[i](); uerr != nil {
					err = errors.Join(err, fmt.Errorf("undo %s: %w (remove it by hand)", names[i], uerr))
				}
			}
			return warnings, err
		}
		if undo != nil {
			undos = append(undos, undo)
			names = append(names, s.Name)
		}
	}
	return warnings, nil
}

// undoList collects what takes a step's own changes back, so a step that
// fails half-way leaves nothing either.
type undoList []func() error

func (u *undoList) add(f func() error) { *u = append(*u, f) }

// run undoes, last first, and returns every error met.
func (u *undoList) run() error {
	var errs []error
	for i := len(*u) - 1; i >= 0; i-- {
		errs = append(errs, (*u)[i]())
	}
	*u = nil
	return errors.Join(errs...)
}

// ownDir is the config's directory when it is tezgah's own
// (/etc/tezgah, C:\ProgramData\tezgah): only then may install close it
// to other users. A config elsewhere (`--config C:\tz.toml`) gets its
// own file closed, never the folder around it.
func ownDir(configPath string) (string, bool) {
	dir := filepath.Dir(configPath)
	return dir, strings.EqualFold(filepath.Base(dir), Name)
}
