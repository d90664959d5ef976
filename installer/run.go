package installer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kardianos/service"
)

// errNotWindowsService says runWindowsService did not apply: not Windows,
// or not started by the service manager.
var errNotWindowsService = errors.New("not a Windows service")

// StopTimeout bounds how long a service stop waits for the agent's
// graceful shutdown (which itself gives a call in flight 10 s).
const StopTimeout = 25 * time.Second

// RunService runs run under the OS service manager until the manager
// stops it (run's context is cancelled and RunService waits for it), or
// until run fails on its own: then RunService returns run's error, so the
// process exits non-zero and systemd's Restart=always or the Windows
// recovery action starts it again.
//
// reload is called when the service manager asks for a reload where that
// arrives as a service control (Windows' "paramchange"); on Linux systemd
// sends SIGHUP, which the caller handles.
func RunService(exe, configPath string, run func(ctx context.Context) error, reload func()) error {
	if err := runWindowsService(run, reload); err != errNotWindowsService {
		return err
	}
	p := &program{run: run, failed: make(chan error, 1)}
	svc, err := service.New(p, ServiceConfig(exe, configPath))
	if err != nil {
		return fmt.Errorf("installer: %w", err)
	}
	return p.serve(svc)
}

// SystemLogger is the OS log of the service (the Windows Event Log; syslog
// elsewhere), for logsink.
func SystemLogger(exe, configPath string) (service.Logger, error) {
	svc, err := service.New(noop{}, ServiceConfig(exe, configPath))
	if err != nil {
		return nil, fmt.Errorf("installer: %w", err)
	}
	return svc.SystemLogger(nil)
}

type program struct {
	run    func(ctx context.Context) error
	failed chan error // run returned before it was asked to stop

	mu     sync.Mutex // guards cancel, done, err
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

func (p *program) serve(svc service.Service) error {
	ran := make(chan error, 1)
	go func() { ran <- svc.Run() }()
	select {
	case err := <-ran:
		if err != nil {
			return fmt.Errorf("installer: service: %w", err)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case err := <-p.failed:
		return err
	}
}

// Start implements service.Interface; it must return quickly.
func (p *program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.mu.Lock()
	p.cancel, p.done = cancel, done
	p.mu.Unlock()
	go func() {
		defer close(done)
		err := p.run(ctx)
		if ctx.Err() == nil { // not asked to stop
			if err == nil {
				err = errors.New("agent stopped by itself")
			}
			p.failed <- err
			return
		}
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}()
	return nil
}

// Stop implements service.Interface: it cancels the agent and waits for
// its graceful shutdown, up to StopTimeout.
func (p *program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-time.After(StopTimeout):
		return fmt.Errorf("agent did not stop within %v", StopTimeout)
	}
}
