package wine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// env is the lane's Wine prefix and the Windows programs built for it,
// made once per `go test` run and shared by its tests (they run one at a
// time: they share the prefix's service manager).
type env struct {
	wine, wineserver string
	dir              string // temp dir holding the prefix and the builds
	prefix           string // WINEPREFIX
	exe              string // C:\tzbin\tezgah.exe, as a Windows path
	holdopen         string // C:\tzbin\holdopen.exe
}

var lane struct {
	once sync.Once
	env  *env
	err  error
	skip string
}

// setup returns the lane's environment, making it on first use: the
// Windows build of tezgah, the two test programs and a booted prefix with
// the bcryptprimitives stand-in in system32.
func setup(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("the Wine lane boots Wine and runs Windows programs")
	}
	lane.once.Do(func() { lane.env, lane.skip, lane.err = newEnv() })
	if lane.skip != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s; .ci/run installs them", lane.skip)
		}
		t.Skip(lane.skip)
	}
	if lane.err != nil {
		t.Fatal(lane.err)
	}
	return lane.env
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e := lane.env; e != nil {
		e.close()
	}
	os.Exit(code)
}

// close ends every Windows process of the prefix (the service manager,
// a service a failed test left running) and the wineserver, waits for it
// to be gone (it writes the registry out as it goes) and removes the
// lane's files.
func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e.command(ctx, e.wineserver, "-k").Run()
	e.command(ctx, e.wineserver, "-w").Run()
	os.RemoveAll(e.dir)
}

// lookWine finds Wine's 64-bit loader: Debian's wine64 package puts it
// outside PATH.
func lookWine() (wine, server string, ok bool) {
	for _, dir := range []string{"/usr/lib/wine", "/usr/lib/x86_64-linux-gnu/wine", "/opt/wine-stable/bin"} {
		w, s := filepath.Join(dir, "wine64"), filepath.Join(dir, "wineserver")
		if isExec(w) && isExec(s) {
			return w, s, true
		}
	}
	w, err1 := exec.LookPath("wine64")
	s, err2 := exec.LookPath("wineserver")
	return w, s, err1 == nil && err2 == nil
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func newEnv() (_ *env, skip string, err error) {
	wine, server, ok := lookWine()
	if !ok {
		return nil, "Wine not found (Debian package wine64): the Windows lane cannot run", nil
	}
	gcc, err := exec.LookPath("x86_64-w64-mingw32-gcc")
	if err != nil {
		return nil, "x86_64-w64-mingw32-gcc not found (Debian package gcc-mingw-w64-x86-64-win32): the Windows lane cannot build its test programs", nil
	}
	dir, err := os.MkdirTemp("", "tezgah-wine")
	if err != nil {
		return nil, "", err
	}
	e := &env{wine: wine, wineserver: server, dir: dir, prefix: filepath.Join(dir, "prefix"),
		exe: `C:\tzbin\tezgah.exe`, holdopen: `C:\tzbin\holdopen.exe`}
	defer func() {
		if err != nil {
			e.close() // e, not the result: a failed setup returns nil
		}
	}()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, "", err
	}
	// The three builds and the first boot of the prefix are the slow
	// part; they run side by side.
	jobs := []*exec.Cmd{
		exec.Command("go", "build", "-trimpath", "-o", filepath.Join(bin, "tezgah.exe"), "../../cmd/tezgah"),
		exec.Command(gcc, "-shared", "-O2", "-o", filepath.Join(bin, "bcryptprimitives.dll"),
			"testdata/shim/bcryptprimitives.c", "testdata/shim/bcryptprimitives.def", "-lbcrypt"),
		exec.Command(gcc, "-O2", "-municode", "-o", filepath.Join(bin, "holdopen.exe"), "testdata/holdopen/holdopen.c"),
	}
	jobs[0].Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	jobs = append(jobs, e.command(ctx, e.wine, "wineboot", "--init"))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		f, err := os.CreateTemp(dir, "out")
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		j.Stdout, j.Stderr = f, f // a file, not a pipe: see output
		wg.Go(func() {
			if err := j.Run(); err != nil {
				out, _ := os.ReadFile(f.Name())
				errs[i] = fmt.Errorf("%s: %v\n%s", strings.Join(j.Args, " "), err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	// Let the booted prefix go idle and its wineserver end. Wine 8.0
	// otherwise may start a second services.exe beside the one wineboot
	// left starting, and the two keep separate service lists: a service
	// created in one "does not exist" in the other.
	if out, err := e.command(ctx, e.wineserver, "-w").CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("wineserver -w: %v\n%s", err, out)
	}
	// Then keep one wineserver for the whole run (TestMain ends it).
	// Without -p it ends a few seconds after the last program started
	// from here exits, and takes the running services with it.
	if err := e.command(ctx, e.wineserver, "-p").Run(); err != nil { // no pipe: the daemon keeps it
		return nil, "", fmt.Errorf("wineserver -p: %v", err)
	}
	for src, dst := range map[string]string{
		"bcryptprimitives.dll": e.host(`C:\windows\system32\bcryptprimitives.dll`),
		"tezgah.exe":           e.host(e.exe),
		"holdopen.exe":         e.host(e.holdopen),
	} {
		if err := copyFile(filepath.Join(bin, src), dst); err != nil {
			return nil, "", err
		}
	}
	return e, "", nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// command runs name (wine64, wineserver) in the lane's prefix, quietly:
// no debug channels, no display, no offer to install Mono or Gecko.
func (e *env) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, name, args...)
	c.Env = append(os.Environ(), "WINEPREFIX="+e.prefix, "WINEDEBUG=-all", "WINEDLLOVERRIDES=mscoree,mshtml=", "DISPLAY=")
	c.WaitDelay = 5 * time.Second
	return c
}

// win runs a Windows program (a Windows path, or a name Wine finds such
// as msiexec) to its end and returns what it printed.
func (e *env) win(t *testing.T, within time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	out := e.output(t)
	c := e.command(ctx, e.wine, args...)
	c.Stdout, c.Stderr = out.f, out.f
	err := c.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %v:\n%s", strings.Join(args, " "), within, out)
	}
	return out.String(), err
}

// output is a file for a Wine program's output. Not a pipe: the Wine
// processes a program starts (wineserver, services.exe) inherit it and
// outlive the program, and a pipe would stay open until they end.
type output struct{ f *os.File }

func (e *env) output(t *testing.T) *output {
	t.Helper()
	f, err := os.CreateTemp(e.dir, "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(); os.Remove(f.Name()) })
	return &output{f}
}

func (o *output) String() string {
	b, _ := os.ReadFile(o.f.Name())
	return string(b)
}

// mustWin is win for what must succeed.
func (e *env) mustWin(t *testing.T, within time.Duration, args ...string) string {
	t.Helper()
	out, err := e.win(t, within, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// host is the Linux path of a Windows path on drive C: of the prefix.
func (e *env) host(win string) string {
	rest, ok := strings.CutPrefix(win, `C:\`)
	if !ok {
		panic("not a C: path: " + win)
	}
	return filepath.Join(append([]string{e.prefix, "drive_c"}, strings.Split(rest, `\`)...)...)
}

// proc is a Windows program running under Wine, with its output kept for
// the test's messages.
type proc struct {
	cmd  *exec.Cmd
	out  *output
	done chan struct{}
	err  error // set before done closes
}

// start runs a Windows program in the background; the test's end kills
// it if it still runs.
func (e *env) start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: e.command(context.Background(), e.wine, args...), out: e.output(t), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out.f, p.out.f
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// kill ends the program with SIGKILL: the wine64 process is the Windows
// process itself, so nothing of it runs on, as with `taskkill /F`.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s survived SIGKILL", p.cmd.Args)
	}
}

var listening = regexp.MustCompile(`listening on (ws://127\.0\.0\.1:[0-9]+/v1/ws)`)

// agent runs `tezgah.exe run ...` and returns it with its WebSocket URL
// once it listens.
func (e *env) agent(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := e.start(t, append([]string{e.exe, "run"}, args...)...)
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := listening.FindStringSubmatch(p.out.String()); m != nil {
			return p, m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("tezgah.exe run ended before listening (%v):\n%s", p.err, p.out)
		case <-deadline:
			t.Fatalf("tezgah.exe run did not listen within 2m:\n%s", p.out)
		case <-tick.C:
		}
	}
}

// freePort picks a loopback port for a configuration that needs a fixed
// one (the service's); Wine shares the host's ports.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeWin writes a file at a Windows path of the prefix.
func (e *env) writeWin(t *testing.T, win string, data []byte) {
	t.Helper()
	p := e.host(win)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
