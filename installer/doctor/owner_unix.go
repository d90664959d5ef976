//go:build !windows

package doctor

import (
	"fmt"
	"io/fs"
	"os/user"
	"strconv"
	"syscall"
)

func owner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	name := strconv.Itoa(int(st.Uid))
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	return fmt.Sprintf(", owner %s", name)
}
