package filedrop

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"
)

// atomicFile is a file that appears under its name complete or not at
// all: a back-office program polling done/ must never read half a result.
// It is written to a hidden temporary in the same folder (rename is only
// atomic within one file system), synced, and renamed.
type atomicFile struct {
	*bufio.Writer
	f     *os.File
	final string
}

func createAtomic(dir, name string) (*atomicFile, error) {
	// The temporary's name does not repeat name: a long name plus the
	// random part would pass the file system's 255 bytes.
	f, err := os.CreateTemp(dir, ".tezgah-*.tmp")
	if err != nil {
		return nil, err
	}
	// CreateTemp makes 0600; results are for the back-office account,
	// which a technician lets in through the group (see docs/filedrop.md).
	f.Chmod(0o640)
	return &atomicFile{Writer: bufio.NewWriterSize(f, 64<<10), f: f, final: filepath.Join(dir, name)}, nil
}

func (a *atomicFile) commit() error {
	err := a.Flush()
	if err == nil {
		err = a.f.Sync()
	}
	if cerr := a.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(a.f.Name(), a.final)
	}
	if err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("write %s: %w", filepath.Base(a.final), err)
	}
	syncDir(filepath.Dir(a.final))
	return nil
}

func (a *atomicFile) abort() {
	a.f.Close()
	os.Remove(a.f.Name())
}

func writeAtomic(dir, name string, data []byte) error {
	a, err := createAtomic(dir, name)
	if err != nil {
		return err
	}
	a.Write(data)
	return a.commit()
}

// syncDir makes a rename in dir durable. Windows cannot sync a directory
// (NTFS journals the rename itself), so errors are ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// removeTemps deletes temporaries a crash left behind.
func removeTemps(dir string) {
	m, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	for _, p := range m {
		os.Remove(p)
	}
}

// maxName is the longest file name, in bytes, that the file systems a
// shop PC has take (ext4, NTFS, SMB shares).
const maxName = 255

// companion is the name of a file tezgah writes for the file name: name
// + suffix (".result.json", ".error.txt"), or, when that would pass 255
// bytes, name cut at a character boundary, "~", 8 hex digits of the whole
// name's SHA-256, and suffix — so two long names never share one. The
// whole name is in the result file's "file" and the error file's text.
func companion(name, suffix string) string {
	if len(name)+len(suffix) <= maxName {
		return name + suffix
	}
	sum := sha256.Sum256([]byte(name))
	tag := "~" + hex.EncodeToString(sum[:4])
	cut := maxName - len(suffix) - len(tag)
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + tag + suffix
}
