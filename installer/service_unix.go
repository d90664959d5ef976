//go:build !windows

package installer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
)

func runWindowsService(func(context.Context) error, func()) error { return errNotWindowsService }

// Reload asks the running service to re-read its configuration; systemd
// turns it into SIGHUP (ExecReload in the unit).
func Reload() error {
	out, err := exec.Command("systemctl", "reload", Name).CombinedOutput()
	if err != nil {
		return fmt.Errorf("installer: systemctl reload %s: %v: %s", Name, err, out)
	}
	return nil
}

func serviceEnv() (map[string]string, error) {
	b, err := os.ReadFile(EnvFile)
	if err != nil {
		return nil, nil
	}
	vars, err := ParseEnv(string(b))
	if err != nil {
		return nil, fmt.Errorf("installer: %s: %w", EnvFile, err)
	}
	return vars, nil
}
