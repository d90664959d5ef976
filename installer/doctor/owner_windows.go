//go:build windows

package doctor

import "io/fs"

// owner is empty on Windows, where access is by ACL (set by the installer).
func owner(fs.FileInfo) string { return "" }

// notOwnedBy is empty on Windows: the service account gets access by ACL.
func notOwnedBy(string, ...string) string { return "" }
