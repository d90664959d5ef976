package protocol

import (
	"encoding/json"
	"testing"

	"github.com/tezgah/tezgah/outbox"
)

func TestHelloJSON(t *testing.T) {
	b, err := json.Marshal(Hello("kasa-pc-1", "shop-7", 57))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"hello","register":"kasa-pc-1","agent":"shop-7","protocol":1,"last_seq":57}`; string(b) != want {
		t.Fatalf("hello = %s\nwant    %s", b, want)
	}
	b, _ = json.Marshal(FromOutbox(outbox.Event{Seq: 42, ID: "R1-1", Register: "kasa-pc-1", Type: outbox.EventAccepted, State: outbox.Queued}))
	if want := `{"type":"accepted","id":"R1-1","register":"kasa-pc-1","seq":42,"state":"queued"}`; string(b) != want {
		t.Fatalf("accepted = %s\nwant       %s", b, want)
	}
}

// The status page's actions send a qualified id back: whatever comes,
// it splits into a register and an id, and a qualified id of a valid
// register and id comes back whole.
func FuzzSplitQualifiedID(f *testing.F) {
	for _, s := range []string{"R1-1", "R1-1@kasa-pc-1", "a:b/c@x", "@", "x@@filedrop", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		reg, id := SplitQualifiedID(q)
		if ValidRegister(reg) && idPattern.MatchString(id) {
			if r2, id2 := SplitQualifiedID(QualifiedID(reg, id)); r2 != reg || id2 != id {
				t.Fatalf("%q -> (%q, %q) -> %q -> (%q, %q)", q, reg, id, QualifiedID(reg, id), r2, id2)
			}
		}
	})
}
