package wine

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildMSIs builds the .msi of each version with installer/cmd/package,
// each into its own directory (the same version twice is a rebuild), and
// copies them into the prefix as C:\tz\msi\<i>.msi.
func buildMSIs(t *testing.T, e *env, versions ...string) []string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(e.dir, "package")
	if out, err := exec.Command("go", "build", "-o", tool, "../../installer/cmd/package").CombinedOutput(); err != nil {
		t.Fatalf("build the packager: %v\n%s", err, out)
	}
	var msis []string
	for i, v := range versions {
		out := t.TempDir()
		c := exec.Command(tool, "--version", v, "--targets", "windows/amd64", "--out", out)
		c.Dir = root
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("package %s: %v\n%s", v, err, b)
		}
		win := fmt.Sprintf(`C:\tz\msi\%d-%s.msi`, i, v)
		if err := copyFile(filepath.Join(out, fmt.Sprintf("tezgah_%s_x64.msi", v)), e.host(win)); err != nil {
			t.Fatal(err)
		}
		msis = append(msis, win)
	}
	return msis
}

// products lists the versions of tezgah that Windows Installer has
// registered (Programs and Features).
func (e *env) products(t *testing.T) []string {
	t.Helper()
	out := e.mustWin(t, time.Minute, "reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall`, "/s")
	var versions []string
	var name, version string
	flush := func() {
		if name == "tezgah" {
			versions = append(versions, version)
		}
		name, version = "", ""
	}
	for _, l := range strings.Split(strings.ReplaceAll(out, "\r", ""), "\n") {
		f := strings.Fields(l)
		switch {
		case strings.HasPrefix(l, "HKEY_"):
			flush()
		case len(f) == 3 && f[0] == "DisplayName":
			name = f[2]
		case len(f) == 3 && f[0] == "DisplayVersion":
			version = f[2]
		}
	}
	flush()
	slices.Sort(versions)
	return versions
}

func (e *env) wantProducts(t *testing.T, want ...string) {
	t.Helper()
	if got := e.products(t); !slices.Equal(got, want) {
		t.Fatalf("installed tezgah products %q, want %q", got, want)
	}
}

// msiexec runs msiexec quietly, with a verbose log for the messages.
func (e *env) msiexec(t *testing.T, op, msi string) {
	t.Helper()
	log := `C:\tz\msi\msiexec.log`
	os.Remove(e.host(log))
	if out, err := e.win(t, 5*time.Minute, "msiexec", op, msi, "/qn", "/l*v", log); err != nil {
		b, _ := os.ReadFile(e.host(log))
		t.Fatalf("msiexec %s %s: %v\n%s\n%s", op, msi, err, out, tail(b, 4000))
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// TestMSI installs the .msi with Windows Installer under Wine, installs a
// rebuild of the same version over it, upgrades to the next version with
// a configuration and data in place, and uninstalls.
func TestMSI(t *testing.T) {
	e := setup(t)
	tool(t, "wixl", "wixl")
	tool(t, "msiinfo", "msitools")
	msis := buildMSIs(t, e, "1.0.0", "1.0.0", "1.1.0")
	// The bcryptprimitives stand-in is the lane's, never the product's.
	if files, err := exec.Command("msiinfo", "export", e.host(msis[0]), "File").CombinedOutput(); err != nil || bytes.Contains(bytes.ToLower(files), []byte("bcryptprimitives")) {
		t.Fatalf("the .msi's files (%v):\n%s", err, files)
	}
	const (
		installDir  = `C:\Program Files\tezgah`
		exe         = installDir + `\tezgah.exe`
		programData = `C:\ProgramData\tezgah`
		config      = programData + `\tezgah.toml`
		eventSource = `HKLM\System\CurrentControlSet\Services\EventLog\Application\tezgah`
	)
	t.Cleanup(func() {
		if len(e.products(t)) > 0 {
			e.win(t, 5*time.Minute, "msiexec", "/x", msis[2], "/qn")
			e.win(t, 5*time.Minute, "msiexec", "/x", msis[0], "/qn")
		}
		os.RemoveAll(e.host(programData))
	})
	os.RemoveAll(e.host(programData))

	// Per machine: the program under Program Files, the example config
	// and the data directory under ProgramData, the service registered
	// (not started: the technician writes the configuration first).
	e.msiexec(t, "/i", msis[0])
	e.wantProducts(t, "1.0.0")
	for _, p := range []string{exe, programData + `\tezgah.example.toml`, programData + `\data`} {
		if _, err := os.Stat(e.host(p)); err != nil {
			t.Errorf("after install: %v", err)
		}
	}
	e.wantState(t, exe, "stopped")
	img := e.mustWin(t, time.Minute, "reg", "query", `HKLM\System\CurrentControlSet\Services\tezgah`, "/v", "ImagePath")
	if !strings.Contains(img, `C:\Program Files\tezgah\tezgah.exe run --service --config "C:\ProgramData\tezgah\tezgah.toml"`) {
		t.Errorf("service command line:\n%s", img)
	}
	if _, err := e.win(t, time.Minute, "reg", "query", eventSource); err != nil {
		t.Errorf("no Event Log source after install: %v", err)
	}

	// The technician's configuration, and a sale through the service, so
	// that there is data to keep.
	sim := newSimulator(t)
	port := freePort(t)
	url := fmt.Sprintf("ws://127.0.0.1:%d/v1/ws", port)
	cfg := sim.config(fmt.Sprintf("127.0.0.1:%d", port), programData+`\data`)
	e.writeWin(t, config, cfg)
	e.service(t, exe, true, "start")
	sale := saleOver(t, url, "kasa-1", "MSI-1")
	if sale.Status != "approved" {
		t.Fatalf("sale through the installed service: %+v", sale)
	}
	e.service(t, exe, true, "stop")

	// A rebuild of the same version is the same product: never a second
	// one beside it.
	e.win(t, 5*time.Minute, "msiexec", "/i", msis[1], "/qn")
	e.wantProducts(t, "1.0.0")

	// The next version replaces it and keeps the configuration and data.
	e.msiexec(t, "/i", msis[2])
	e.wantProducts(t, "1.1.0")
	if v := e.service(t, exe, true, "version"); strings.TrimSpace(v) != "tezgah 1.1.0" {
		t.Fatalf("after the upgrade: %q", v)
	}
	if b, err := os.ReadFile(e.host(config)); err != nil || !bytes.Equal(b, cfg) {
		t.Fatalf("the configuration after the upgrade: %v\n%s", err, b)
	}
	e.wantState(t, exe, "stopped")
	e.service(t, exe, true, "start")
	waitListen(t, url)
	r := dial(t, url)
	r.send(map[string]any{"type": "query", "id": "MSI-1"})
	q := r.next("the sale from before the upgrade", 2*time.Minute, func(ev event) bool { return ev.ID == "MSI-1" })
	if q.Type != "result" || q.Payment.PaymentID != sale.Payment.PaymentID {
		t.Fatalf("after the upgrade the agent answers %+v for the sale it approved as %+v", q, sale)
	}
	r.close()
	e.service(t, exe, true, "stop")

	// Uninstall: the program, the service and the Event Log source go;
	// the configuration and the data stay (a result is never lost by
	// uninstalling; docs/operations.md says how to remove them).
	e.msiexec(t, "/x", msis[2])
	e.wantProducts(t)
	if _, err := os.Stat(e.host(installDir)); err == nil {
		t.Errorf("%s is still there after uninstall", installDir)
	}
	if e.registered(t, "tezgah") {
		t.Error("the service is still registered after uninstall")
	}
	if _, err := e.win(t, time.Minute, "reg", "query", eventSource); err == nil {
		t.Error("the Event Log source is still there after uninstall")
	}
	for _, p := range []string{config, programData + `\data\tezgah.db`} {
		if _, err := os.Stat(e.host(p)); err != nil {
			t.Errorf("uninstall removed what it must keep: %v", err)
		}
	}
}

// tool finds a Linux command a test needs; missing, the test skips, or
// fails under CI.
func tool(t *testing.T, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing in CI: .ci/run should have installed Debian package %s", name, pkg)
		}
		t.Skipf("%s not installed (Debian package %s)", name, pkg)
	}
}
