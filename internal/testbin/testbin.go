// Package testbin builds the project's commands for tests that run them
// as real processes (crash tests killed with SIGKILL, the CLI, the client
// libraries' conformance run): each command once per test binary, into a
// directory Cleanup removes.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu     sync.Mutex // guards dir, builds
	dir    string
	builds = map[string]*build{}
)

type build struct {
	once sync.Once
	path string
	err  error
}

// Build compiles the command in pkg — a directory relative to the
// calling test's package, such as "../cmd/tezgah" — with go build's
// flags (e.g. "-race"), once per test binary, and returns the
// executable's path. A failed build fails t.
func Build(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	key := pkg + "\x00" + strings.Join(flags, "\x00")
	mu.Lock()
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "tezgah-testbin"); err != nil {
			mu.Unlock()
			t.Fatal(err)
		}
	}
	b := builds[key]
	if b == nil {
		b = &build{path: filepath.Join(dir, fmt.Sprintf("%d-%s", len(builds), filepath.Base(pkg)))}
		builds[key] = b
	}
	mu.Unlock()
	b.once.Do(func() {
		args := append(append([]string{"build"}, flags...), "-o", b.path, pkg)
		if msg, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Cleanup removes what Build built; call it from TestMain after m.Run.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// Chromium is the path of a Chromium (or Chrome) for the browser tests:
// Debian's, which .ci/run installs, or one on PATH; ok is false when
// there is none.
func Chromium() (path string, ok bool) {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	p, err := exec.LookPath("chromium")
	return p, err == nil
}
