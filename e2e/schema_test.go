package e2e

import (
	"encoding/json"
	"fmt"
	"testing"

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

// TestRegistersReportSchemaViolations: the check the test registers run
// on every frame does refuse an event outside the contract.
func TestRegistersReportSchemaViolations(t *testing.T) {
	good := `{"type":"accepted","id":"R1","register":"kasa-pc-1","seq":1,"state":"queued"}`
	if _, p := decodeEvent([]byte(good)); p != "" {
		t.Errorf("a valid accepted reported: %s", p)
	}
	for _, bad := range []string{
		`{"type":"accepted","id":"R1","seq":1,"state":"queued"}`,                           // no register
		`{"type":"result","id":"R1","register":"r","seq":2,"status":"declined"}`,           // no error
		`{"type":"error","id":"R1","error":{"code":"busy","message":"later"}}`,             // no retry_after_ms
		`{"type":"state","id":"R1","register":"r","seq":3,"state":"sending","extra":true}`, // undocumented field
		`not json`,
	} {
		if _, p := decodeEvent([]byte(bad)); p == "" {
			t.Errorf("%s: not reported", bad)
		}
	}
}
