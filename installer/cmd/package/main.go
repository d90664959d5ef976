// Command package builds tezgah's release files in one go: the plain
// binaries for linux/amd64, linux/arm64 and windows/amd64, a .deb per
// Linux architecture (nfpm) and a .msi for Windows (wixl from msitools).
// Run it from the repository:
//
//	go run ./installer/cmd/package --version 1.2.0
//
// It needs wixl (Debian: apt-get install wixl msitools); nfpm is taken
// from PATH, or built with `go run` at a pinned version.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/tezgah/tezgah/installer"
)

// nfpmModule is used when no nfpm is installed.
const nfpmModule = "github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2"

var (
	//go:embed files/postinst
	postinst []byte
	//go:embed files/prerm
	prerm []byte
	//go:embed files/postrm
	postrm []byte
	//go:embed files/copyright
	copyright []byte
	//go:embed files/tezgah.wxs
	wxs string
)

// rulesFile is the fleet's alerting rules, installed next to the example
// configuration.
var rulesFile = filepath.Join("deploy", "prometheus", "tezgah-rules.yml")

// lintianOverrides: the config directory is closed to other users on
// purpose, since the file may hold provider secrets.
//
// The spelling "errors" in the binary are not text: lintian's strings(1)
// reads them out of machine code, where the compiler splits a comparison
// with "Stopped", "Running" or "meant" into overlapping immediates
// ("Stopp" + "pped"). No source of tezgah or its dependencies has them.
var lintianOverrides = []byte(`tezgah: non-standard-dir-perm 0750 != 0755 [etc/tezgah/]
tezgah: non-standard-file-perm 0640 != 0644 [etc/tezgah/tezgah.example.toml]
tezgah: spelling-error-in-binary Stoppped Stopped [usr/bin/tezgah]
tezgah: spelling-error-in-binary runnning running [usr/bin/tezgah]
tezgah: spelling-error-in-binary ment meant [usr/bin/tezgah]
`)

// Options of one build.
type Options struct {
	Version string
	Out     string   // output directory
	Root    string   // repository root
	Targets []string // GOOS/GOARCH
	Log     func(format string, args ...any)
}

func main() {
	var o Options
	var targets string
	flag.StringVar(&o.Version, "version", "0.1.0", "version, numeric MAJOR.MINOR.PATCH (Windows Installer allows nothing else)")
	flag.StringVar(&o.Out, "out", "dist", "output directory")
	flag.StringVar(&targets, "targets", "linux/amd64,linux/arm64,windows/amd64", "GOOS/GOARCH list")
	flag.Parse()
	o.Targets = strings.Split(targets, ",")
	o.Log = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	o.Root = root
	files, err := Build(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	for _, f := range files {
		fmt.Println(f)
	}
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", errors.New("run it inside the tezgah repository")
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

var versionPattern = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`)

// Build produces the files for o.Targets and returns their paths.
func Build(ctx context.Context, o Options) ([]string, error) {
	if !versionPattern.MatchString(o.Version) {
		return nil, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", o.Version)
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	stage := filepath.Join(out, "stage")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		return nil, err
	}
	var files []string
	var man []byte // the gzipped man page, made for the first .deb
	for _, t := range o.Targets {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(t), "/")
		if !ok {
			return nil, fmt.Errorf("target %q is not GOOS/GOARCH", t)
		}
		bin := filepath.Join(out, fmt.Sprintf("tezgah_%s_%s_%s", o.Version, goos, goarch))
		if goos == "windows" {
			bin += ".exe"
		}
		o.Log("building %s", filepath.Base(bin))
		if err := goBuild(ctx, o, goos, goarch, bin); err != nil {
			return nil, err
		}
		files = append(files, bin)
		var pkg string
		switch goos {
		case "linux":
			if man == nil {
				if man, err = manPage(ctx, o); err != nil {
					return nil, err
				}
			}
			pkg, err = buildDeb(ctx, o, stage, out, goarch, bin, man)
		case "windows":
			if goarch != "amd64" {
				continue
			}
			pkg, err = buildMSI(ctx, o, stage, out, bin)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		o.Log("packaged %s", filepath.Base(pkg))
		files = append(files, pkg)
	}
	return files, os.RemoveAll(stage)
}

func goBuild(ctx context.Context, o Options, goos, goarch, bin string) error {
	args := []string{"build", "-trimpath", "-ldflags", "-s -w -X main.version=" + o.Version, "-o", bin}
	if goos == "linux" {
		// Position-independent: ASLR for the agent, and Debian's lintian
		// takes a static non-PIE binary for a packaging error.
		args = append(args, "-buildmode=pie")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/tezgah")...)
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s/%s: %v\n%s", goos, goarch, err, out)
	}
	return nil
}

// manPage is tezgah.1, gzipped: `tezgah help --man` of this very source,
// built for the machine that packages, so the page says what the help says.
func manPage(ctx context.Context, o Options) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "go", "run", "-ldflags", "-X main.version="+o.Version, "./cmd/tezgah", "help", "--man")
	cmd.Dir = o.Root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	page, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("man page: tezgah help --man: %w", err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(page)
	zw.Close()
	return gz.Bytes(), nil
}

func write(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode) // WriteFile's mode is cut by the umask
}

// buildDeb writes the nfpm configuration (JSON is YAML) and runs nfpm.
func buildDeb(ctx context.Context, o Options, stage, out, arch, bin string, man []byte) (string, error) {
	dir := filepath.Join(stage, "deb-"+arch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unit := installer.SystemdUnit("/usr/bin/tezgah", "/etc/tezgah/tezgah.toml")
	var cl bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&cl, gzip.BestCompression)
	fmt.Fprintf(zw, "tezgah (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- tezgah <support@tezgah.dev>  Tue, 24 Nov 2026 12:00:00 +0000\n", o.Version, o.Version)
	zw.Close()
	for name, f := range map[string]struct {
		data []byte
		mode os.FileMode
	}{
		"tezgah.service": {[]byte(unit), 0o644}, "postinst": {postinst, 0o755}, "prerm": {prerm, 0o755},
		"postrm": {postrm, 0o755}, "copyright": {copyright, 0o644}, "changelog.gz": {cl.Bytes(), 0o644},
		"overrides": {lintianOverrides, 0o644}, "tezgah.1.gz": {man, 0o644},
	} {
		if err := write(filepath.Join(dir, name), f.data, f.mode); err != nil {
			return "", err
		}
	}
	type fileInfo struct {
		Mode int `json:"mode"`
	}
	type content struct {
		Src      string    `json:"src,omitempty"`
		Dst      string    `json:"dst"`
		Type     string    `json:"type,omitempty"`
		FileInfo *fileInfo `json:"file_info,omitempty"`
	}
	cfg := map[string]any{
		"name": "tezgah", "arch": arch, "platform": "linux", "version": o.Version,
		"section": "net", "priority": "optional",
		"maintainer": "tezgah <support@tezgah.dev>", "vendor": "tezgah",
		"homepage": "https://github.com/tezgah/tezgah", "license": "Proprietary",
		"description": "payment edge agent for shop cash registers\n" +
			"tezgah takes cash registers' payment requests over a local WebSocket\n" +
			"and carries them to the payment providers' cloud terminal APIs through\n" +
			"a durable SQLite outbox, so no result is lost and nothing is charged twice.",
		"depends": []string{"adduser"},
		"contents": []content{
			{Src: bin, Dst: "/usr/bin/tezgah", FileInfo: &fileInfo{0o755}},
			{Src: filepath.Join(dir, "tezgah.service"), Dst: "/lib/systemd/system/tezgah.service", FileInfo: &fileInfo{0o644}},
			{Dst: "/etc/tezgah", Type: "dir", FileInfo: &fileInfo{0o750}},
			{Src: filepath.Join(o.Root, "configs", "tezgah.example.toml"), Dst: "/etc/tezgah/tezgah.example.toml", Type: "config|noreplace", FileInfo: &fileInfo{0o640}},
			// For the chain's Prometheus (docs/fleet.md); a conffile, so an
			// upgrade brings new rules unless the admin edited them here.
			{Src: filepath.Join(o.Root, rulesFile), Dst: "/etc/tezgah/tezgah-rules.yml", Type: "config", FileInfo: &fileInfo{0o644}},
			{Src: filepath.Join(dir, "copyright"), Dst: "/usr/share/doc/tezgah/copyright", FileInfo: &fileInfo{0o644}},
			{Src: filepath.Join(dir, "changelog.gz"), Dst: "/usr/share/doc/tezgah/changelog.gz", FileInfo: &fileInfo{0o644}},
			{Src: filepath.Join(dir, "overrides"), Dst: "/usr/share/lintian/overrides/tezgah", FileInfo: &fileInfo{0o644}},
			{Src: filepath.Join(dir, "tezgah.1.gz"), Dst: "/usr/share/man/man1/tezgah.1.gz", FileInfo: &fileInfo{0o644}},
		},
		"scripts": map[string]string{
			"postinstall": filepath.Join(dir, "postinst"),
			"preremove":   filepath.Join(dir, "prerm"),
			"postremove":  filepath.Join(dir, "postrm"),
		},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "nfpm.yaml")
	if err := write(conf, b, 0o644); err != nil {
		return "", err
	}
	target := filepath.Join(out, fmt.Sprintf("tezgah_%s_%s.deb", o.Version, arch))
	args := []string{"package", "--packager", "deb", "--config", conf, "--target", target}
	var cmd *exec.Cmd
	if p, err := exec.LookPath("nfpm"); err == nil {
		cmd = exec.CommandContext(ctx, p, args...)
	} else {
		cmd = exec.CommandContext(ctx, "go", append([]string{"run", nfpmModule}, args...)...)
	}
	cmd.Dir = o.Root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("nfpm: %v\n%s", err, b)
	}
	return target, nil
}

// UpgradeCode names tezgah in Windows Installer across every version;
// it never changes.
const UpgradeCode = "6f1c2b1e-7d1a-4c55-9a3e-2f6b0e1d7a41"

// ProductCode is the .msi's ProductCode for version: a name-based UUID
// (RFC 9562 version 5) in the UpgradeCode's namespace. The same version
// is the same product however often it is rebuilt, so Windows Installer
// repairs or refuses instead of installing it twice beside itself (as
// Product Id="*" did); another version is another product, which
// MajorUpgrade replaces.
func ProductCode(version string) string {
	ns, _ := hex.DecodeString(strings.ReplaceAll(UpgradeCode, "-", ""))
	h := sha1.Sum(append(ns, "tezgah/windows/amd64/"+version...))
	u := h[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16]))
}

// buildMSI fills in the WiX source and runs wixl.
func buildMSI(ctx context.Context, o Options, stage, out, exe string) (string, error) {
	wixl, err := exec.LookPath("wixl")
	if err != nil {
		return "", errors.New("wixl not found: install it (Debian: apt-get install wixl msitools)")
	}
	// wixl takes only relative Source paths: stage the files beside the
	// source and run it there.
	dir := filepath.Join(stage, "msi")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for src, name := range map[string]string{exe: "tezgah.exe", filepath.Join(o.Root, "configs", "tezgah.example.toml"): "tezgah.example.toml",
		filepath.Join(o.Root, rulesFile): "tezgah-rules.yml"} {
		b, err := os.ReadFile(src)
		if err != nil {
			return "", err
		}
		if err := write(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err
		}
	}
	var src bytes.Buffer
	t := template.Must(template.New("wxs").Parse(wxs))
	if err := t.Execute(&src, map[string]string{
		"Version": o.Version, "Exe": "tezgah.exe", "Example": "tezgah.example.toml",
		"ProductCode": ProductCode(o.Version), "UpgradeCode": UpgradeCode,
	}); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "tezgah.wxs")
	if err := write(path, src.Bytes(), 0o644); err != nil {
		return "", err
	}
	target := filepath.Join(out, fmt.Sprintf("tezgah_%s_x64.msi", o.Version))
	cmd := exec.CommandContext(ctx, wixl, "--arch", "x64", "-o", target, "tezgah.wxs")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("wixl: %v\n%s", err, b)
	}
	return target, nil
}
