package dispatch

import (
	"context"
	"fmt"

	"github.com/tezgah/tezgah/bridge"
)

// workerRun is one running worker goroutine of a terminal.
type workerRun struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned
}

// startLocked starts the worker of terminal name, if Run is running. A
// worker that replaces prev waits until prev has returned: prev may be in
// the middle of a provider call, and two workers on one terminal could
// query a request still on its way and send it a second time.
func (d *Dispatcher) startLocked(name string, prev *workerRun) {
	if d.running == nil {
		return
	}
	ctx, cancel := context.WithCancel(d.running)
	h := &workerRun{cancel: cancel, done: make(chan struct{})}
	d.workers[name] = h
	w := &worker{d: d, term: d.terminals[name], wake: d.wake[name], calls: d.calls}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(h.done)
		defer cancel()
		if prev != nil {
			<-prev.done
		}
		w.run(ctx)
	}()
}

func (d *Dispatcher) provider(name string) bridge.Provider {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.providers[name]
}

// Update replaces the providers and the set of terminals while the
// dispatcher runs, for a configuration reload. Workers of terminals that
// are gone or changed are stopped; a call they have in flight finishes
// first (it runs on the dispatcher's call context, not the worker's).
// Changed and new terminals get new workers. Terminals that did not change
// keep their worker, which uses the new provider from its next step on.
// Nothing in the outbox is touched: requests of a removed terminal stay
// queued until a terminal of that name comes back.
func (d *Dispatcher) Update(providers map[string]bridge.Provider, terminals []bridge.Terminal) error {
	want := map[string]bridge.Terminal{}
	for _, t := range terminals {
		if _, ok := providers[t.Provider]; !ok {
			return fmt.Errorf("dispatch: terminal %s: no provider %q", t.Name, t.Provider)
		}
		want[t.Name] = t
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.providers = providers
	for name, old := range d.terminals {
		if t, ok := want[name]; ok && t == old {
			continue
		}
		prev := d.workers[name]
		if prev != nil {
			prev.cancel()
		}
		// d.workers keeps a removed terminal's last worker, so a later
		// Update that brings the name back waits for it too.
		delete(d.terminals, name)
		delete(d.wake, name)
		if t, ok := want[name]; ok { // changed
			d.terminals[name] = t
			d.wake[name] = make(chan struct{}, 1)
			d.startLocked(name, prev)
		}
	}
	for name, t := range want {
		if _, ok := d.terminals[name]; ok {
			continue
		}
		d.terminals[name] = t
		d.wake[name] = make(chan struct{}, 1)
		d.startLocked(name, d.workers[name])
	}
	return nil
}
