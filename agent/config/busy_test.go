package config

import (
	"strings"
	"testing"
	"time"
)

func TestBusyBounds(t *testing.T) {
	withAgent := func(keys string) []byte {
		return []byte(strings.Replace(valid, "[agent]\n", "[agent]\n"+keys+"\n", 1))
	}
	c, err := Parse("t.toml", withAgent(`max_accept_wait = "250ms"
max_queued_per_terminal = 3
max_outage_amount = { TRY = "500.00", EUR = "20" }`))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Agent
	if a.MaxAcceptWait.Duration != 250*time.Millisecond || a.MaxQueuedPerTerminal != 3 {
		t.Fatalf("bounds = %v, %d", a.MaxAcceptWait, a.MaxQueuedPerTerminal)
	}
	caps := a.OutageCaps()
	if caps["TRY"].Minor != 50000 || caps["EUR"].Minor != 2000 || len(caps) != 2 {
		t.Fatalf("caps = %+v", caps)
	}
	d, err := Parse("t.toml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if d.Agent.MaxAcceptWait.Duration != DefaultMaxAcceptWait || d.Agent.MaxQueuedPerTerminal != DefaultMaxQueuedPerTerminal ||
		d.Agent.OutageCaps()["TRY"].Minor != 10000000 {
		t.Fatalf("defaults = %+v", d.Agent)
	}
	for _, tc := range []struct{ name, file, key string }{
		{"wait too short", `max_accept_wait = "1ms"`, "agent.max_accept_wait"},
		{"no queue", `max_queued_per_terminal = -1`, "agent.max_queued_per_terminal"},
		{"bad amount", `max_outage_amount = { TRY = "1.234" }`, "agent.max_outage_amount.TRY"},
		{"bad currency", `max_outage_amount = { XYZ = "1" }`, "agent.max_outage_amount.XYZ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", withAgent(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("err = %v, want one naming %s", err, tc.key)
			}
		})
	}
}
