package installer

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The unit we generate is checked by systemd itself. systemd-analyze
// exits 0 on unknown keys and bad values (it only warns), so any output
// at all is a failure.
func TestSystemdUnitVerifies(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs systemd-analyze")
	}
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd; .ci/run installs it)")
	}
	exe, err := os.Executable() // any executable file will do for ExecStart
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, Name+".service")
	if err := os.WriteFile(unit, []byte(SystemdUnit(exe, "/etc/tezgah/tezgah.toml")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestSystemdUnitContents(t *testing.T) {
	u := SystemdUnit("/usr/bin/tezgah", "/etc/tezgah/tezgah.toml")
	for _, want := range []string{
		"ExecStart=/usr/bin/tezgah run --service --config /etc/tezgah/tezgah.toml\n",
		"Restart=always\n", "User=tezgah\n", "StateDirectory=tezgah\n", "NoNewPrivileges=yes\n",
		"ProtectSystem=strict\n", "ProtectHome=yes\n", "PrivateTmp=yes\n", "ExecReload=/bin/kill -HUP $MAINPID\n",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
}
