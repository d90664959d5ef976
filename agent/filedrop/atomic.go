package filedrop

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
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
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
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
