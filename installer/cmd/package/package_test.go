package main

import (
	"compress/gzip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tezgah/tezgah/installer"
)

// tool finds a command the checks need. Missing, it skips the check
// locally but fails in CI, where .ci/run installs it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s missing in CI: .ci/run should have installed Debian package %s", name, pkg)
	}
	t.Skipf("%s not installed (Debian package %s; .ci/run installs it)", name, pkg)
	return ""
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPackages builds the .deb and the .msi for real and inspects them
// with Debian's and msitools' own tools.
func TestPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: cross-compiles and packages")
	}
	tool(t, "wixl", "wixl")
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	files, err := Build(context.Background(), Options{
		Version: "1.2.3", Out: out, Root: root, Targets: []string{"linux/amd64", "windows/amd64"},
		Log: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tezgah_1.2.3_linux_amd64", "tezgah_1.2.3_amd64.deb", "tezgah_1.2.3_windows_amd64.exe", "tezgah_1.2.3_x64.msi"}
	for i, f := range files {
		if i >= len(want) || filepath.Base(f) != want[i] {
			t.Fatalf("files %v, want %v", files, want)
		}
	}
	deb := filepath.Join(out, "tezgah_1.2.3_amd64.deb")
	msi := filepath.Join(out, "tezgah_1.2.3_x64.msi")

	t.Run("binary", func(t *testing.T) {
		if got := sh(t, filepath.Join(out, "tezgah_1.2.3_linux_amd64"), "version"); got != "tezgah 1.2.3\n" {
			t.Fatalf("version %q", got)
		}
	})

	t.Run("deb contents", func(t *testing.T) {
		dpkg := tool(t, "dpkg-deb", "dpkg")
		list := sh(t, dpkg, "-c", deb)
		for _, p := range []string{"./usr/bin/tezgah", "./lib/systemd/system/tezgah.service", "./etc/tezgah/tezgah.example.toml", "./etc/tezgah/tezgah-rules.yml", "./usr/share/doc/tezgah/copyright", "./usr/share/man/man1/tezgah.1.gz"} {
			if !strings.Contains(list, " "+p+"\n") {
				t.Errorf("deb lacks %s:\n%s", p, list)
			}
		}
		info := sh(t, dpkg, "-I", deb)
		for _, s := range []string{"postinst", "prerm", "postrm", "conffiles", "Depends: adduser", "Package: tezgah", "Version: 1.2.3"} {
			if !strings.Contains(info, s) {
				t.Errorf("deb info lacks %q:\n%s", s, info)
			}
		}
		x := t.TempDir()
		sh(t, dpkg, "-x", deb, x)
		unit, err := os.ReadFile(filepath.Join(x, "lib/systemd/system/tezgah.service"))
		if err != nil || string(unit) != installer.SystemdUnit("/usr/bin/tezgah", "/etc/tezgah/tezgah.toml") {
			t.Fatalf("packaged unit differs from installer.SystemdUnit (%v):\n%s", err, unit)
		}
		ctl := t.TempDir()
		sh(t, dpkg, "-e", deb, ctl)
		if c, _ := os.ReadFile(filepath.Join(ctl, "conffiles")); string(c) != "/etc/tezgah/tezgah-rules.yml\n/etc/tezgah/tezgah.example.toml\n" {
			t.Errorf("conffiles %q", c)
		}
		post, _ := os.ReadFile(filepath.Join(ctl, "postinst"))
		if !strings.Contains(string(post), "adduser --system") {
			t.Error("postinst does not create the service user")
		}
		for _, s := range []string{"postinst", "prerm", "postrm"} {
			sh(t, "sh", "-n", filepath.Join(ctl, s))
		}
	})

	t.Run("man page", func(t *testing.T) {
		dpkg := tool(t, "dpkg-deb", "dpkg")
		x := t.TempDir()
		sh(t, dpkg, "-x", deb, x)
		f, err := os.Open(filepath.Join(x, "usr/share/man/man1/tezgah.1.gz"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(zr)
		// Generated from the help: every command of it is in the page.
		for _, s := range []string{".TH TEZGAH 1", `tezgah 1.2.3`, `tezgah doctor [\-\-config FILE] [\-\-json]`, `tezgah backup`, "/etc/tezgah/tezgah.toml"} {
			if !strings.Contains(string(page), s) {
				t.Errorf("man page lacks %q:\n%s", s, page)
			}
		}
	})

	// Purge removes the configuration the technician wrote (dpkg itself
	// removes only the shipped conffile) and keeps the data. The shipped
	// postrm runs against a throwaway root through DPKG_ROOT, as dpkg
	// --root --force-script-chrootless runs it.
	t.Run("purge", func(t *testing.T) {
		dpkg := tool(t, "dpkg-deb", "dpkg")
		root := t.TempDir()
		sh(t, dpkg, "-x", deb, root)
		ctl := t.TempDir()
		sh(t, dpkg, "-e", deb, ctl)
		for _, f := range []string{"etc/tezgah/tezgah.toml", "etc/tezgah/tezgah.env", "var/lib/tezgah/tezgah.db"} {
			os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755)
			if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// dpkg has removed its own files by the time postrm purge runs.
		os.Remove(filepath.Join(root, "etc/tezgah/tezgah.example.toml"))
		os.Remove(filepath.Join(root, "etc/tezgah/tezgah-rules.yml"))
		postrm := filepath.Join(ctl, "postrm")
		for _, arg := range []string{"remove", "purge"} {
			cmd := exec.Command("sh", postrm, arg)
			cmd.Env = append(os.Environ(), "DPKG_ROOT="+root)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("postrm %s: %v\n%s", arg, err, out)
			}
		}
		if _, err := os.Stat(filepath.Join(root, "etc/tezgah")); !os.IsNotExist(err) {
			t.Errorf("purge left /etc/tezgah: %v", err)
		}
		if _, err := os.Stat(filepath.Join(root, "var/lib/tezgah/tezgah.db")); err != nil {
			t.Errorf("purge removed the database: %v", err)
		}
	})

	t.Run("lintian", func(t *testing.T) {
		lintian := tool(t, "lintian", "lintian")
		out, _ := exec.Command(lintian, "--allow-root", "--info", deb).CombinedOutput() // exit status 2 on errors
		for _, l := range strings.Split(string(out), "\n") {
			// Errors, the missing man page and spelling mistakes.
			if strings.HasPrefix(l, "E:") || strings.Contains(l, "no-manual-page") || strings.Contains(l, "spelling-error") {
				t.Errorf("lintian: %s", l)
			}
		}
		t.Logf("lintian:\n%s", out)
	})

	t.Run("msi tables", func(t *testing.T) {
		msiinfo := tool(t, "msiinfo", "msitools")
		tables := strings.Fields(sh(t, msiinfo, "tables", msi))
		for _, tb := range []string{"ServiceInstall", "ServiceControl", "CustomAction"} {
			if !contains(tables, tb) {
				t.Fatalf("msi lacks table %s: %v", tb, tables)
			}
		}
		si := sh(t, msiinfo, "export", msi, "ServiceInstall")
		// Name, start type 2 (automatic), the low-privilege account, the arguments.
		for _, s := range []string{"\ttezgah\t", "\t2\t", `NT AUTHORITY\LocalService`, `run --service --config "[CommonAppDataFolder]tezgah\tezgah.toml"`} {
			if !strings.Contains(si, s) {
				t.Errorf("ServiceInstall lacks %q:\n%s", s, si)
			}
		}
		if sc := sh(t, msiinfo, "export", msi, "ServiceControl"); !strings.Contains(sc, "\ttezgah\t162\t") {
			// 162 = stop on install and uninstall (2|32), delete on uninstall (128).
			t.Errorf("ServiceControl:\n%s", sc)
		}
		if f := sh(t, msiinfo, "export", msi, "File"); !strings.Contains(f, "tezgah-rules.yml") {
			t.Errorf("msi lacks the alerting rules next to the example config:\n%s", f)
		}
		if ca := sh(t, msiinfo, "export", msi, "CustomAction"); !strings.Contains(ca, "SetupService") || !strings.Contains(ca, "setup-service") {
			t.Errorf("recovery-actions custom action missing:\n%s", ca)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestBadVersion(t *testing.T) {
	if _, err := Build(context.Background(), Options{Version: "v1.0", Out: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "MAJOR.MINOR.PATCH") {
		t.Fatalf("err %v", err)
	}
}
