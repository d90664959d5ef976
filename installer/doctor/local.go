package doctor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/outbox"
)

func checkDataDir(dir, serviceUser string) Result {
	r := Result{Check: "data dir"}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.Status, r.Detail = Warn, dir+" does not exist yet"
		r.Remedy = "the agent creates it on first start; the service's is /var/lib/tezgah (systemd StateDirectory) or %ProgramData%\\tezgah\\data"
		return r
	case err != nil:
		r.Status, r.Detail = Fail, err.Error()
		r.Remedy = "run doctor as root/administrator or as the service user, and check the path in agent.data_dir"
		return r
	case !fi.IsDir():
		r.Status, r.Detail = Fail, dir+" is not a directory"
		r.Remedy = "point agent.data_dir at a directory, or move the file away"
		return r
	}
	mode := fi.Mode().Perm()
	detail := fmt.Sprintf("%s mode %v%s", dir, mode, owner(fi))
	if runtime.GOOS != "windows" && mode&0o700 != 0o700 {
		r.Status, r.Detail = Fail, detail+": its owner cannot read, write and enter it"
		r.Remedy = "chmod 700 " + dir
		return r
	}
	if serviceUser != "" {
		if bad := notOwnedBy(serviceUser, dir, filepath.Join(dir, agent.DBFile), filepath.Join(dir, agent.DBFile+"-wal"), filepath.Join(dir, agent.DBFile+"-shm")); bad != "" {
			r.Status, r.Detail = Fail, detail+": "+bad
			r.Remedy = fmt.Sprintf("the service runs as %s and cannot write it (was the agent run by hand as another user?): chown -R %s:%s %s", serviceUser, serviceUser, serviceUser, dir)
			return r
		}
	}
	if err := probeWrite(dir); err != nil {
		r.Status, r.Detail = Fail, detail+": "+err.Error()
		r.Remedy = "give the service user the directory: chown -R tezgah:tezgah " + dir + " && chmod 700 " + dir
		return r
	}
	if runtime.GOOS != "windows" && mode&0o077 != 0 {
		r.Status, r.Detail = Warn, detail+": other users can look inside (the database holds payment references)"
		r.Remedy = "chmod 700 " + dir
		return r
	}
	r.Status, r.Detail = OK, detail
	return r
}

// Free space below which the data directory is a problem: the outbox
// must write every sale before it accepts it, and SQLite needs room for
// its WAL and checkpoints.
const (
	DiskWarn = 1 << 30   // 1 GiB
	DiskFail = 200 << 20 // 200 MiB
)

// checkDisk reports the free space of the data directory's file system
// (of its nearest existing parent before the first start).
func checkDisk(dir string, space func(string) (uint64, uint64, error)) Result {
	r := Result{Check: "disk space"}
	for {
		if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
			break
		}
		dir = filepath.Dir(dir)
	}
	free, size, err := space(dir)
	if err != nil {
		r.Status, r.Detail = Warn, "cannot tell the free space: "+err.Error()
		return r
	}
	r.Detail = fmt.Sprintf("%s free of %s on the file system of %s", bytesIEC(free), bytesIEC(size), dir)
	switch {
	case free < DiskFail:
		r.Status = Fail
	case free < DiskWarn:
		r.Status = Warn
	default:
		r.Status = OK
		return r
	}
	r.Remedy = "free space on that disk (old logs, downloads, temp files): with a full disk the agent refuses new sales; the database itself must not be deleted"
	return r
}

func bytesIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// probeWrite proves the directory is readable and writable by really
// listing it and creating a file in it.
func probeWrite(dir string) error {
	if _, err := os.ReadDir(dir); err != nil {
		return fmt.Errorf("cannot list it: %w", err)
	}
	f, err := os.CreateTemp(dir, ".doctor-*")
	if err != nil {
		return fmt.Errorf("cannot write in it: %w", err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func checkDatabase(ctx context.Context, dir string) Result {
	r := Result{Check: "database"}
	path := filepath.Join(dir, agent.DBFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		r.Status, r.Detail = Warn, path+" does not exist yet"
		r.Remedy = "the agent creates it on first start"
		return r
	}
	// Read-only: doctor must never change the outbox, even to migrate it.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		r.Status, r.Detail = Fail, err.Error()
		return r
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		if err != nil {
			check = err.Error()
		}
		r.Status, r.Detail = Fail, path+": integrity check failed: "+check
		r.Remedy = "stop the agent, keep a copy of the damaged file, and restore the last backup (docs/operations.md, \"Backup and restore\"); do not delete it: it may hold results registers have not collected"
		return r
	}
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		r.Status, r.Detail = Fail, err.Error()
		return r
	}
	switch {
	case v > outbox.SchemaVersion:
		r.Status, r.Detail = Fail, fmt.Sprintf("%s: schema version %d is newer than this build's %d", path, v, outbox.SchemaVersion)
		r.Remedy = "install the tezgah version that wrote it, or a newer one; never downgrade over a database"
	case v < outbox.SchemaVersion:
		r.Status, r.Detail = Warn, fmt.Sprintf("%s: integrity ok, schema version %d, this build's is %d", path, v, outbox.SchemaVersion)
		r.Remedy = "it is migrated when the agent starts; take a backup first"
	default:
		r.Status, r.Detail = OK, fmt.Sprintf("%s: integrity ok, schema version %d", path, v)
	}
	return r
}

// checkPort is OK when the address is free, or when the program on it
// is a tezgah (its /healthz answers "ok"): a running agent holds it.
func checkPort(ctx context.Context, addr string, timeout time.Duration) Result {
	r := Result{Check: "listen port"}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		ln.Close()
		r.Status, r.Detail = OK, addr+" is free"
		return r
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	u := url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/healthz"}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if resp, herr := http.DefaultClient.Do(req); herr == nil {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64))
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok" {
			r.Status, r.Detail = OK, addr+" is in use by a running tezgah"
			return r
		}
	}
	r.Status, r.Detail = Fail, addr+": "+err.Error()
	r.Remedy = "another program holds the port: find it with `ss -ltnp` (Windows: `netstat -abno`), stop it, or change agent.listen"
	return r
}
