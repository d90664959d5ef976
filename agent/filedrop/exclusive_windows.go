//go:build windows

package filedrop

import "golang.org/x/sys/windows"

// exclusive reports whether the file can be opened with no sharing: on
// Windows that fails while any other program still has it open, which
// catches a writer that pauses longer than StableFor (a slow network
// copy) before it closes the file.
func exclusive(path string) bool {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return false
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ, 0, nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return false
	}
	windows.CloseHandle(h)
	return true
}
