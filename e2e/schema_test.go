package e2e

import (
	"encoding/json"
	"fmt"

	"github.com/tezgah/tezgah/internal/wireschema"
)

// decodeEvent decodes one frame a test register received and checks it
// against the protocol's JSON Schema (docs/schema/), so the agent cannot
// send what the contract the client libraries are built from does not
// describe. A frame the schema refuses comes back as a problem for the
// test to report (registers run off the test goroutine: no t.Fatal).
func decodeEvent(data []byte) (event, string) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Sprintf("frame is not an event: %v: %s", err, data)
	}
	s, err := wireschema.Default()
	if err != nil {
		return ev, err.Error()
	}
	if err := s.Event(data); err != nil {
		return ev, fmt.Sprintf("schema: %v", err)
	}
	return ev, ""
}
