package filedrop

import "path/filepath"

// Companion is the name of the result or error file written for a
// dropped file, for the tests outside the package.
var Companion = companion

// SnapshotPath is where the folder at dir keeps its copy of what it took
// of the file name.
func SnapshotPath(dir, name string) string {
	return (&Folder{processing: filepath.Join(dir, "processing")}).side(name, sideSnapshot)
}

// SchemeMark is the mark of the id scheme in processing/.
const SchemeMark = schemeMark
