//go:build windows

package doctor

import "io/fs"

// owner is empty on Windows, where access is by ACL (set by the installer).
func owner(fs.FileInfo) string { return "" }
