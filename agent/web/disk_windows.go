//go:build windows

package web

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// diskSpace returns the bytes the service account may still write on
// dir's volume (quotas included) and the volume's size.
func diskSpace(dir string) (free, size uint64, err error) {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("GetDiskFreeSpaceEx %s: %w", dir, err)
	}
	var total, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, &total, &totalFree); err != nil {
		return 0, 0, fmt.Errorf("GetDiskFreeSpaceEx %s: %w", dir, err)
	}
	return free, total, nil
}
