//go:build windows

package installer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// runWindowsService runs the agent under the Service Control Manager with
// our own handler rather than kardianos/service's, because that one
// accepts only stop and shutdown, and a reload arrives as "paramchange".
//
// It asks the Service Control Manager directly instead of guessing with
// svc.IsWindowsService (a parent named services.exe in session 0): under
// Wine the guess is wrong, the agent ran as a console program and the
// service manager timed out waiting for it. The dispatcher answers at
// once, with ERROR_FAILED_SERVICE_CONTROLLER_CONNECT, when this process
// was not started as a service.
func runWindowsService(run func(context.Context) error, reload func()) error {
	h := &handler{run: run, reload: reload}
	if err := svc.Run(Name, h); err != nil {
		if errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
			return errNotWindowsService
		}
		return fmt.Errorf("installer: service: %w", err)
	}
	return h.err
}

type handler struct {
	run    func(context.Context) error
	reload func()
	err    error // set before Execute returns
}

func (h *handler) Execute(_ []string, r <-chan svc.ChangeRequest, changes chan<- svc.Status) (bool, uint32) {
	changes <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.run(ctx) }()
	const accepts = svc.AcceptStop | svc.AcceptShutdown | svc.AcceptParamChange
	changes <- svc.Status{State: svc.Running, Accepts: accepts}
	for {
		select {
		case err := <-done:
			// Stopped without being asked: report a failure, so the
			// recovery actions (set for non-crash failures too) restart it.
			if err == nil {
				err = fmt.Errorf("agent stopped by itself")
			}
			h.err = err
			return true, 1
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				changes <- c.CurrentStatus
			case svc.ParamChange:
				if h.reload != nil {
					h.reload()
				}
				changes <- c.CurrentStatus
			case svc.Stop, svc.Shutdown:
				changes <- svc.Status{State: svc.StopPending, WaitHint: uint32(StopTimeout / time.Millisecond)}
				cancel()
				select {
				case h.err = <-done:
				case <-time.After(StopTimeout):
					h.err = fmt.Errorf("agent did not stop within %v", StopTimeout)
				}
				return false, 0
			}
		}
	}
}

// Reload sends the running service a "paramchange" control, which it
// handles as a configuration reload.
func Reload() error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(Name)
	if err != nil {
		return fmt.Errorf("installer: open service %s: %w", Name, err)
	}
	defer s.Close()
	if _, err := s.Control(svc.ParamChange); err != nil {
		return fmt.Errorf("installer: reload: %w", err)
	}
	return nil
}

// serviceEnv reads the service's Environment value, where Windows keeps
// the variables it gives the service.
func serviceEnv() (map[string]string, error) {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, `SYSTEM\CurrentControlSet\Services\`+Name, registry.QUERY_VALUE)
	if err != nil {
		return nil, nil
	}
	defer k.Close()
	list, _, err := k.GetStringsValue("Environment")
	if err != nil {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range list {
		if name, v, ok := strings.Cut(kv, "="); ok {
			out[name] = v
		}
	}
	return out, nil
}
