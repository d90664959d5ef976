package e2e

import (
	"encoding/json"
	"fmt"

	"github.com/tezgah/tezgah/internal/wireschema"
)

// schemaProblem checks one frame (or HTTP body) the agent sent against
// the protocol's JSON Schema (docs/schema/), so the agent cannot send what
// the contract the client libraries are built from does not describe. It
// returns "" for a valid event. Registers run off the test goroutine, so
// it reports rather than fails.
func schemaProblem(data []byte) string {
	s, err := wireschema.Default()
	if err != nil {
		return err.Error()
	}
	if err := s.Event(data); err != nil {
		return fmt.Sprintf("schema: %v", err)
	}
	return ""
}

// decodeEvent decodes one frame a test register received and checks it
// against the schema; a problem comes back for the test to report.
func decodeEvent(data []byte) (event, string) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Sprintf("frame is not an event: %v: %s", err, data)
	}
	return ev, schemaProblem(data)
}
