package web_test

import (
	"strings"
	"testing"
)

// requestLines checks that every log line about request id also names its
// terminal, and that the lines with the wanted messages are there. The
// support-action audit line is about who acted, and is left out.
func requestLines(t *testing.T, logs, id, terminal string, wantMsgs ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "id="+id+" ") && !strings.HasSuffix(line, "id="+id) {
			continue
		}
		if strings.Contains(line, `msg="support action"`) {
			continue
		}
		if !strings.Contains(line, "terminal="+terminal) {
			t.Errorf("log line about %s without its terminal:\n%s", id, line)
		}
		for _, m := range wantMsgs {
			if strings.Contains(line, "msg="+m) || strings.Contains(line, `msg="`+m) {
				seen[m] = true
			}
		}
	}
	for _, m := range wantMsgs {
		if !seen[m] {
			t.Errorf("no log line %q for %s in:\n%s", m, id, logs)
		}
	}
}

func TestRequestLogLines(t *testing.T) {
	d := startDemo(t)
	reg := d.dial(t)
	reg.send(map[string]any{"type": "sale", "id": "L-1", "terminal": "kasa-1", "amount": "5.00",
		"card_number": "4111111111111111"}) // an unknown field: refused, and never logged
	reg.sale("L-2", "kasa-2", "5.00")
	d.waitLog(t, "msg=finished id=L-2")
	requestLines(t, d.logs.String(), "L-2", "kasa-2", "accepted", "finished")
	if strings.Contains(d.logs.String(), "4111111111111111") {
		t.Error("a card number reached the log")
	}
}

// waitLog waits for a log line: the worker logs a request's end just
// after committing it, so the register may have the result first.
func (d *demo) waitLog(t *testing.T, substr string) {
	t.Helper()
	poll(t, "log line "+substr, func() bool { return strings.Contains(d.logs.String(), substr) }, d.logs.String)
}
