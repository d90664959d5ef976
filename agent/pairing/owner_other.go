//go:build !unix

package pairing

import "os"

// On Windows the file inherits the data directory's ACL, which the
// installer sets; there is no owner to carry over, and a directory
// cannot be fsynced.
func keepOwner(*os.File, string) {}
func syncDir(string)             {}
