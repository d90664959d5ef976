//go:build unix

package pairing

import (
	"os"
	"syscall"
)

// keepOwner gives the new file the old one's owner: a technician runs
// `sudo tezgah pair` while the service reads the file as its own account,
// which must still be able to read it afterwards.
func keepOwner(tmp *os.File, old string) {
	fi, err := os.Stat(old)
	if err != nil {
		return
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		_ = tmp.Chown(int(st.Uid), int(st.Gid)) // best effort: only root may give files away
	}
}

// syncDir makes the rename durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
