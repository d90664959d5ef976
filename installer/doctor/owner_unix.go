//go:build !windows

package doctor

import (
	"fmt"
	"io/fs"
	"os"
	osuser "os/user"
	"strconv"
	"syscall"
)

func owner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := osuser.LookupId(name); err == nil {
		name = u.Username
	}
	return fmt.Sprintf(", owner %s", name)
}

// notOwnedBy names the first of paths (that exist) not owned by user.
func notOwnedBy(user string, paths ...string) string {
	u, err := osuser.Lookup(user)
	if err != nil {
		return ""
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && strconv.Itoa(int(st.Uid)) != u.Uid {
			return fmt.Sprintf("%s is not owned by %s", p, user)
		}
	}
	return ""
}
