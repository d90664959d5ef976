package installer

import (
	"errors"
	"strings"
	"testing"
)

// record is a step list whose steps log what they do and undo.
type record struct{ log []string }

func (r *record) step(name string, optional bool, fail error) Step {
	return Step{Name: name, Optional: optional, Without: "without " + name, Do: func() (func() error, error) {
		if fail != nil {
			r.log = append(r.log, "fail "+name)
			return nil, fail
		}
		r.log = append(r.log, "do "+name)
		return func() error { r.log = append(r.log, "undo "+name); return nil }, nil
	}}
}

func TestRunSteps(t *testing.T) {
	refused := errors.New("Invalid level.")
	for _, tc := range []struct {
		name     string
		steps    func(r *record) []Step
		log      string
		err      string // "" for success
		warnings int
	}{
		{
			name:  "all done",
			steps: func(r *record) []Step { return []Step{r.step("a", false, nil), r.step("b", true, nil)} },
			log:   "do a,do b",
		},
		{
			name: "required step fails: the done ones are undone, last first",
			steps: func(r *record) []Step {
				return []Step{r.step("a", false, nil), r.step("b", true, nil), r.step("c", false, refused), r.step("d", false, nil)}
			},
			log: "do a,do b,fail c,undo b,undo a",
			err: "c: Invalid level.",
		},
		{
			name: "optional step refused: a warning, the rest goes on",
			steps: func(r *record) []Step {
				return []Step{r.step("a", false, nil), r.step("b", true, refused), r.step("c", false, nil)}
			},
			log:      "do a,fail b,do c",
			warnings: 1,
		},
		{
			name: "nothing to undo",
			steps: func(r *record) []Step {
				return []Step{{Name: "a", Do: func() (func() error, error) { return nil, nil }}, r.step("b", false, refused)}
			},
			log: "fail b",
			err: "b: Invalid level.",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &record{}
			warnings, err := runSteps(tc.steps(r))
			if got := strings.Join(r.log, ","); got != tc.log {
				t.Errorf("log %s, want %s", got, tc.log)
			}
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || err.Error() != tc.err) {
				t.Errorf("err %v, want %q", err, tc.err)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %q, want %d", warnings, tc.warnings)
			}
			for _, w := range warnings {
				if !strings.Contains(w, "refused it (Invalid level.)") || !strings.Contains(w, "without b") {
					t.Errorf("warning %q does not say what was refused and what is missing", w)
				}
			}
		})
	}
}

func TestRunStepsReportsFailedUndo(t *testing.T) {
	steps := []Step{
		{Name: "user", Do: func() (func() error, error) { return func() error { return errors.New("userdel: busy") }, nil }},
		{Name: "service", Do: func() (func() error, error) { return nil, errors.New("denied") }},
	}
	_, err := runSteps(steps)
	if err == nil || !strings.Contains(err.Error(), "service: denied") || !strings.Contains(err.Error(), "undo user: userdel: busy (remove it by hand)") {
		t.Fatalf("err %v", err)
	}
}

// A setting that fails after the service is registered takes the
// registration and the preparation back: nothing is left installed.
func TestInstallUndoneWhenASettingFails(t *testing.T) {
	m, f := manager(t, true)
	r := &record{}
	m.Prepare = func(string) (func() error, error) {
		r.log = append(r.log, "prepare")
		return func() error { r.log = append(r.log, "unprepare"); return nil }, nil
	}
	m.Settings = []Step{r.step("description", true, errors.New("Invalid parameter.")), r.step("acl", false, errors.New("access denied"))}
	var warned []string
	m.Warn = func(s string) { warned = append(warned, s) }
	err := m.Install()
	if err == nil || !strings.Contains(err.Error(), "install failed and was undone: acl: access denied") {
		t.Fatalf("install: %v", err)
	}
	if got := strings.Join(f.calls, ","); got != "install,uninstall" {
		t.Fatalf("service manager calls %s, want install,uninstall", got)
	}
	if got := strings.Join(r.log, ","); got != "prepare,fail description,fail acl,unprepare" {
		t.Fatalf("steps %s", got)
	}
	if m.State() != "not installed" {
		t.Fatalf("state after a failed install: %s", m.State())
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "description") {
		t.Fatalf("warnings %q", warned)
	}

	// The same install with the setting allowed, or only optional ones
	// refused, installs.
	m.Settings = []Step{r.step("description", true, errors.New("Invalid parameter."))}
	if err := m.Install(); err != nil {
		t.Fatal(err)
	}
	if m.State() != "stopped" {
		t.Fatalf("state %s", m.State())
	}
}

func TestOwnDir(t *testing.T) {
	for path, want := range map[string]bool{
		"/etc/tezgah/tezgah.toml": true,
		"/tmp/t.toml":             false,
		"/root/tz.toml":           false,
	} {
		if _, got := ownDir(path); got != want {
			t.Errorf("ownDir(%s) = %v", path, got)
		}
	}
}
