package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/internal/diskspace"
	"github.com/tezgah/tezgah/outbox"
)

// setup is a healthy installation: a config file, a data directory with
// a real outbox database, a free port, and an iyzico simulator.
type setup struct {
	dir, dataDir, listen, baseURL, password string
}

func newSetup(t *testing.T) *setup {
	t.Helper()
	dir := t.TempDir()
	s := &setup{dir: dir, dataDir: filepath.Join(dir, "data"), password: "pw"}
	sim := iyzicosim.New(iyzicosim.Options{ClientID: "c", ClientSecret: "s", Username: "u", Password: "pw", Devices: []string{"P1"}})
	ts := httptest.NewServer(sim)
	t.Cleanup(ts.Close)
	s.baseURL = ts.URL
	if err := os.Mkdir(s.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := outbox.Open(filepath.Join(s.dataDir, agent.DBFile), outbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	s.listen = freeAddr(t)
	return s
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (s *setup) write(t *testing.T) string {
	t.Helper()
	path := filepath.Join(s.dir, "tezgah.toml")
	cfg := fmt.Sprintf(`[agent]
listen = %q
data_dir = %q
[iyzico]
base_url = %q
client_id = "c"
client_secret = "s"
username = "u"
password = %q
[[terminal]]
name = "kasa-1"
provider = "iyzico"
device_id = "P1"
model = "vuk507"
`, s.listen, s.dataDir, s.baseURL, s.password)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(t *testing.T, path string) map[string]Result {
	t.Helper()
	rs := Run(context.Background(), Options{ConfigPath: path, Timeout: 2 * time.Second,
		ServiceState: func() string { return "running" }})
	out := map[string]Result{}
	for _, r := range rs {
		out[r.Check] = r
	}
	return out
}

func TestHealthy(t *testing.T) {
	s := newSetup(t)
	got := run(t, s.write(t))
	for _, c := range []string{"config", "data dir", "database", "listen port", "iyzico dns", "iyzico tcp", "iyzico clock", "iyzico credentials", "mdns", "service"} {
		if r, ok := got[c]; !ok || r.Status != OK {
			t.Errorf("%s: %+v, want OK", c, r)
		}
	}
	// The simulator speaks plain http: a warning, never OK.
	if r := got["iyzico tls"]; r.Status != Warn {
		t.Errorf("tls on http: %+v", r)
	}
}

// Each broken condition a test can create for real gives a FAIL on its
// line, and the report as a whole fails.
func TestBrokenConditions(t *testing.T) {
	tests := []struct {
		name   string
		check  string
		want   string // in Detail
		break_ func(t *testing.T, s *setup) string
	}{
		{"bad config", "config", "unknown key", func(t *testing.T, s *setup) string {
			path := s.write(t)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, bytes.Replace(b, []byte("model ="), []byte("modle ="), 1), 0o600)
			return path
		}},
		{"unreadable data dir", "data dir", "cannot", func(t *testing.T, s *setup) string {
			os.Chmod(s.dataDir, 0o000)
			t.Cleanup(func() { os.Chmod(s.dataDir, 0o700) })
			return s.write(t)
		}},
		{"corrupt database", "database", "integrity check failed", func(t *testing.T, s *setup) string {
			db := filepath.Join(s.dataDir, agent.DBFile)
			b, _ := os.ReadFile(db)
			for i := 100; i < len(b); i++ { // keep the header, trash the pages
				b[i] = 0xA5
			}
			os.WriteFile(db, b, 0o600)
			return s.write(t)
		}},
		{"database not sqlite", "database", "integrity check failed", func(t *testing.T, s *setup) string {
			os.WriteFile(filepath.Join(s.dataDir, agent.DBFile), bytes.Repeat([]byte("not a database "), 400), 0o600)
			return s.write(t)
		}},
		{"busy port", "listen port", "address already in use", func(t *testing.T, s *setup) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			s.listen = ln.Addr().String()
			return s.write(t)
		}},
		{"unreachable provider", "iyzico tcp", "refused", func(t *testing.T, s *setup) string {
			s.baseURL = "http://" + freeAddr(t)
			return s.write(t)
		}},
		{"wrong credentials", "iyzico credentials", "no token", func(t *testing.T, s *setup) string {
			s.password = "wrong"
			return s.write(t)
		}},
		{"clock skew", "iyzico clock", "ahead of the provider", func(t *testing.T, s *setup) string {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Date", time.Now().Add(-10*time.Minute).UTC().Format(http.TimeFormat))
			}))
			t.Cleanup(ts.Close)
			s.baseURL = ts.URL
			return s.write(t)
		}},
	}
	if runtime.GOOS != "windows" {
		tests = append(tests, struct {
			name   string
			check  string
			want   string
			break_ func(t *testing.T, s *setup) string
		}{"database owned by another user than the service's", "data dir", "is not owned by", func(t *testing.T, s *setup) string {
			serviceUser = otherUser(t)
			return s.write(t)
		}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			serviceUser = ""
			s := newSetup(t)
			path := tc.break_(t, s)
			rs := Run(context.Background(), Options{ConfigPath: path, Timeout: 2 * time.Second, ServiceUser: serviceUser,
				// The skewed server is on loopback; treat it as the provider's.
				thisMachine: func(context.Context, string) bool { return false }})
			var r *Result
			for i := range rs {
				if rs[i].Check == tc.check {
					r = &rs[i]
				}
			}
			if r == nil || r.Status != Fail || !strings.Contains(r.Detail, tc.want) || r.Remedy == "" {
				t.Fatalf("%s: %+v, want FAIL with %q and a remedy\nall: %+v", tc.check, r, tc.want, rs)
			}
			if !Failed(rs) {
				t.Fatal("report not failed")
			}
		})
	}
}

// A provider address on this PC (a simulator, a local proxy) stamps its
// Date with this PC's own clock: no skew is reported against it.
func TestClockOfThisMachine(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(-10*time.Minute).UTC().Format(http.TimeFormat))
	}))
	t.Cleanup(ts.Close)
	s := newSetup(t)
	s.baseURL = ts.URL
	r := run(t, s.write(t))["iyzico clock"]
	if r.Status != OK || !strings.Contains(r.Detail, "is this PC") {
		t.Fatalf("clock against a server on this PC: %+v", r)
	}
}

func TestDiskSpace(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name string
		free uint64
		want Status
	}{
		{"plenty", 50 * gib, OK},
		{"low", 500 << 20, Warn},
		{"nearly full", 100 << 20, Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSetup(t)
			var asked string
			rs := Run(context.Background(), Options{ConfigPath: s.write(t), Timeout: 2 * time.Second,
				diskSpace: func(dir string) (uint64, uint64, error) { asked = dir; return tc.free, 100 * gib, nil }})
			for _, r := range rs {
				if r.Check != "disk space" {
					continue
				}
				if r.Status != tc.want || (tc.want != OK && r.Remedy == "") {
					t.Fatalf("%+v, want %s", r, tc.want)
				}
				if _, err := os.Stat(asked); err != nil {
					t.Fatalf("asked about %s, which does not exist", asked)
				}
				return
			}
			t.Fatalf("no disk space line: %+v", rs)
		})
	}
	// The real file system of a real directory answers too.
	if r := checkDisk(t.TempDir(), diskspace.Of); r.Detail == "" || strings.HasPrefix(r.Detail, "cannot") {
		t.Fatalf("real disk: %+v", r)
	}
}

// A port held by a running tezgah is not a problem: it is the agent.
func TestPortHeldByTezgah(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			fmt.Fprintln(w, "ok")
		}
	}))
	t.Cleanup(ts.Close)
	r := checkPort(context.Background(), ts.Listener.Addr().String(), 2*time.Second)
	if r.Status != OK || !strings.Contains(r.Detail, "running tezgah") {
		t.Fatalf("%+v", r)
	}
}

func TestOutput(t *testing.T) {
	rs := []Result{
		{Check: "config", Status: OK, Detail: "fine"},
		{Check: "listen port", Status: Fail, Detail: "busy", Remedy: "stop it"},
	}
	var tb bytes.Buffer
	WriteTable(&tb, rs)
	want := "STATUS  CHECK        DETAIL\nOK      config       fine\nFAIL    listen port  busy\n                     → stop it\n"
	if tb.String() != want {
		t.Fatalf("table:\n%s\nwant:\n%s", tb.String(), want)
	}
	var jb bytes.Buffer
	WriteJSON(&jb, rs)
	var got struct {
		OK     bool     `json:"ok"`
		Checks []Result `json:"checks"`
	}
	if err := json.Unmarshal(jb.Bytes(), &got); err != nil || got.OK || len(got.Checks) != 2 || got.Checks[1].Remedy != "stop it" {
		t.Fatalf("json %s (%v)", jb.String(), err)
	}
}

// serviceUser is set by a broken condition that needs Options.ServiceUser.
var serviceUser string

// otherUser is an account that exists and is not the one running the test.
func otherUser(t *testing.T) string {
	t.Helper()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nobody", "daemon", "root"} {
		if u, err := user.Lookup(name); err == nil && u.Uid != me.Uid {
			return name
		}
	}
	t.Skip("no other user account on this machine")
	return ""
}
