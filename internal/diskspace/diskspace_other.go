//go:build !(linux || darwin || freebsd || windows)

package diskspace

import "errors"

// Of is not implemented here: callers report the space as unknown.
func Of(dir string) (free, size uint64, err error) {
	return 0, 0, errors.New("free disk space is not implemented on this system")
}
