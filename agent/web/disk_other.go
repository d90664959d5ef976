//go:build !(linux || darwin || freebsd || windows)

package web

import "errors"

// diskSpace is not implemented here; the metric is then absent.
func diskSpace(dir string) (free, size uint64, err error) {
	return 0, 0, errors.New("free disk space is not implemented on this system")
}
