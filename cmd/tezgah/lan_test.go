package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tezgah/tezgah/agent/discovery"
)

// `discover --id X --json` printed every agent that answered before X:
// a script reading its first line took another shop's agent.
func TestDiscoverPrintsOnlyTheAgentAskedFor(t *testing.T) {
	other := discovery.Entry{Instance: "shop-2", Host: "b.local", Port: 8417, Addrs: []string{"192.0.2.2"}, Text: map[string]string{"id": "shop-2", "v": "1", "path": "/v1/ws"}}
	mine := discovery.Entry{Instance: "shop-7", Host: "a.local", Port: 8417, Addrs: []string{"192.0.2.7"}, Text: map[string]string{"id": "shop-7", "v": "1", "path": "/v1/ws"}}
	var out bytes.Buffer
	if printFound(&out, other, "shop-7", true) {
		t.Fatal("another agent ended the search")
	}
	if !printFound(&out, mine, "shop-7", true) {
		t.Fatal("the agent asked for did not end the search")
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("printed %d agents:\n%s", len(lines), out.String())
	}
	var got struct {
		Instance string `json:"instance"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil || !strings.Contains(lines[0], "shop-7") {
		t.Fatalf("printed %s (%v)", lines[0], err)
	}
	// Without --id every agent is listed and none ends the search.
	out.Reset()
	if printFound(&out, other, "", false) || printFound(&out, mine, "", false) {
		t.Fatal("a search without --id ended early")
	}
	if !strings.Contains(out.String(), "shop-2") || !strings.Contains(out.String(), "shop-7") {
		t.Fatalf("listing:\n%s", out.String())
	}
}
