//go:build linux || darwin || freebsd

package web

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// diskSpace returns the bytes an unprivileged user may still write on
// dir's file system (f_bavail: root's reserve left out, since the agent
// does not run as root) and its size.
func diskSpace(dir string) (free, size uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}
