package filedrop

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/money"
	"github.com/tezgah/tezgah/outbox"
)

// Statuses of a command in the result file besides the outbox's final
// states (approved, declined, failed, expired, cancelled).
const (
	StatusInvalid  = "invalid"  // the command is malformed; not run (skip_invalid)
	StatusRejected = "rejected" // the agent refused it when storing it, e.g. a refund above its sale
)

// Row is one command in the result file.
type Row struct {
	Line      int             `json:"line"`
	ID        string          `json:"id,omitempty"`         // the id written in the file
	RequestID string          `json:"request_id,omitempty"` // the id in the agent, for query and cancel over WebSocket
	Type      string          `json:"type,omitempty"`
	Terminal  string          `json:"terminal,omitempty"`
	Amount    string          `json:"amount,omitempty"`
	Currency  string          `json:"currency,omitempty"`
	Status    string          `json:"status"`
	Payment   json.RawMessage `json:"payment,omitempty"`
	Error     *protocol.Error `json:"error,omitempty"`
}

// Summary closes the result file.
type Summary struct {
	Commands  int               `json:"commands"`
	Statuses  map[string]int    `json:"statuses"`
	Terminals []TerminalSummary `json:"terminals"`
}

// TerminalSummary counts one terminal's commands and totals its approved
// money movements.
type TerminalSummary struct {
	Terminal string         `json:"terminal"`
	Commands int            `json:"commands"`
	Statuses map[string]int `json:"statuses"`
	Totals   []Totals       `json:"totals,omitempty"`
	// Voids counts approved voids. A void's amount is its sale's, which
	// the file does not carry, so voids are not in the totals.
	Voids int `json:"voids"`
	// EndOfDay holds each end of day's result as the provider reported
	// it, with the provider's own totals in detail.
	EndOfDay []EndOfDay `json:"end_of_day,omitempty"`
}

// Totals are one currency's approved sales and refunds.
type Totals struct {
	Currency      string `json:"currency"`
	Sales         int    `json:"sales"`
	SalesAmount   string `json:"sales_amount"`
	Refunds       int    `json:"refunds"`
	RefundsAmount string `json:"refunds_amount"`
	Net           string `json:"net"` // sales_amount - refunds_amount
}

// EndOfDay is one end of day in the summary.
type EndOfDay struct {
	Line      int             `json:"line"`
	RequestID string          `json:"request_id"`
	Status    string          `json:"status"`
	BatchNo   string          `json:"batch_no,omitempty"`
	Detail    json.RawMessage `json:"detail,omitempty"`
}

type totals struct {
	sales, refunds       int
	salesMinor, refMinor int64
}

type termAcc struct {
	TerminalSummary
	totals map[string]*totals
}

// writeResults reads the file once more and writes one row per command
// as it goes, so a result file of any size costs memory only for the
// per-terminal counters.
func (r *run) writeResults(ctx context.Context) error {
	f := r.f
	js, err := createAtomic(f.done, companion(r.name, ".result.json"))
	if err != nil {
		return err
	}
	defer js.abort() // a no-op once committed
	var cw *csv.Writer
	var ca *atomicFile
	for _, rf := range f.opts.ResultFormats {
		if rf == "csv" {
			if ca, err = createAtomic(f.done, companion(r.name, ".result.csv")); err != nil {
				return err
			}
			defer ca.abort()
			ca.WriteString("\ufeff") // so Excel reads the Turkish letters as UTF-8
			cw = csv.NewWriter(ca)
			cw.Comma = r.comma
			cw.UseCRLF = true
			cw.Write([]string{"line", "id", "request_id", "type", "terminal", "amount", "currency", "status",
				"error_code", "error_field", "error_message", "payment_id", "auth_code", "host_reference", "batch_no"})
		}
	}
	head := struct {
		File        string `json:"file"`
		SHA256      string `json:"sha256"`
		Format      string `json:"format"`
		Policy      string `json:"policy"`
		ProcessedAt string `json:"processed_at"`
		// Error says the file did not run whole: changed_while_processing.
		Error *protocol.Error `json:"error,omitempty"`
	}{r.name, r.hash, string(r.format), f.opts.Policy, f.opts.Now().UTC().Format(time.RFC3339), r.changed}
	hb, _ := json.Marshal(head)
	js.Write(hb[:len(hb)-1])
	js.WriteString(",\n\"commands\": [")

	sum := Summary{Statuses: map[string]int{}}
	terms := map[string]*termAcc{}
	first := true
	err = r.each(ctx, func(c command, perr *protocol.Error) error {
		row, err := r.row(ctx, c, perr)
		if err != nil {
			return err
		}
		b, err := json.Marshal(row)
		if err != nil {
			return err
		}
		if !first {
			js.WriteByte(',')
		}
		first = false
		js.WriteString("\n  ")
		js.Write(b)
		if cw != nil {
			cw.Write(csvRow(row))
		}
		sum.Commands++
		sum.Statuses[row.Status]++
		if row.Terminal != "" {
			account(terms, row, c)
		}
		return nil
	})
	var fe *fileError
	if r.changed != nil && errors.As(err, &fe) {
		// Taken half written: the part that could be read is reported;
		// nothing after it ran.
		err = nil
	}
	if err != nil {
		return err
	}
	for _, name := range sortedKeys(terms) {
		t := terms[name]
		for _, cur := range sortedKeys(t.totals) {
			v := t.totals[cur]
			t.Totals = append(t.Totals, Totals{Currency: cur, Sales: v.sales, Refunds: v.refunds,
				SalesAmount:   money.Amount{Minor: v.salesMinor, Currency: cur}.String(),
				RefundsAmount: money.Amount{Minor: v.refMinor, Currency: cur}.String(),
				Net:           money.Amount{Minor: v.salesMinor - v.refMinor, Currency: cur}.String()})
		}
		sum.Terminals = append(sum.Terminals, t.TerminalSummary)
	}
	sb, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	js.WriteString("\n],\n\"summary\": ")
	js.Write(sb)
	js.WriteString("}\n")
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if err := ca.commit(); err != nil {
			return err
		}
	}
	return js.commit()
}

// row is what became of one command.
func (r *run) row(ctx context.Context, c command, perr *protocol.Error) (Row, error) {
	row := Row{Line: c.Line, ID: c.OwnID}
	if perr == nil {
		perr = r.invalid[c.N]
	}
	if perr != nil {
		row.Status, row.Error = StatusInvalid, perr
		return row, nil
	}
	cmd := c.Cmd
	row.RequestID, row.Type, row.Terminal = cmd.ID, cmd.Type, cmd.Terminal
	if cmd.Type == protocol.TypeQuery {
		row.ID = cmd.ID
	}
	if !cmd.Amount.IsZero() {
		row.Amount, row.Currency = cmd.Amount.String(), cmd.Amount.Currency
	}
	if pe := r.rejected[c.N]; pe != nil {
		row.Status, row.Error = StatusRejected, pe
		return row, nil
	}
	ev, err := r.lookup(ctx, cmd.ID)
	if r.changed != nil && errors.Is(err, outbox.ErrNotFound) && cmd.Type != protocol.TypeQuery {
		row.Status = StatusNotRun
		row.Error = protocol.Errorf(CodeChangedWhileProcessing, "", "not run: the file changed after it was taken, before this command was stored")
		return row, nil
	}
	if err != nil {
		return row, fmt.Errorf("line %d: %w", c.Line, err)
	}
	w := protocol.FromOutbox(ev)
	row.Status = w.Status
	if row.Status == "" {
		row.Status = w.State // a query about a request still under way
	}
	row.Payment, row.Error = w.Payment, w.Error
	if cmd.Type == protocol.TypeQuery {
		row.Terminal = "" // counted with the file that ran it, not here
	}
	return row, nil
}

func account(terms map[string]*termAcc, row Row, c command) {
	t := terms[row.Terminal]
	if t == nil {
		t = &termAcc{TerminalSummary: TerminalSummary{Terminal: row.Terminal, Statuses: map[string]int{}}, totals: map[string]*totals{}}
		terms[row.Terminal] = t
	}
	t.Commands++
	t.Statuses[row.Status]++
	if row.Type == protocol.TypeEndOfDay {
		var p struct {
			BatchNo string          `json:"batch_no"`
			Detail  json.RawMessage `json:"detail"`
		}
		json.Unmarshal(row.Payment, &p) // absent when not approved
		t.EndOfDay = append(t.EndOfDay, EndOfDay{Line: row.Line, RequestID: row.RequestID, Status: row.Status, BatchNo: p.BatchNo, Detail: p.Detail})
		return
	}
	if row.Status != "approved" {
		return
	}
	if row.Type == protocol.TypeVoid {
		t.Voids++
		return
	}
	cur := c.Cmd.Amount.Currency
	v := t.totals[cur]
	if v == nil {
		v = &totals{}
		t.totals[cur] = v
	}
	switch row.Type {
	case protocol.TypeSale:
		v.sales++
		v.salesMinor += c.Cmd.Amount.Minor
	case protocol.TypeRefund:
		v.refunds++
		v.refMinor += c.Cmd.Amount.Minor
	}
}

func csvRow(r Row) []string {
	var p struct {
		PaymentID     string `json:"payment_id"`
		AuthCode      string `json:"auth_code"`
		HostReference string `json:"host_reference"`
		BatchNo       string `json:"batch_no"`
	}
	json.Unmarshal(r.Payment, &p)
	var code, field, msg string
	if r.Error != nil {
		code, field, msg = r.Error.Code, r.Error.Field, r.Error.Message
	}
	return []string{strconv.Itoa(r.Line), r.ID, r.RequestID, r.Type, r.Terminal, r.Amount, r.Currency, r.Status,
		code, field, msg, p.PaymentID, p.AuthCode, p.HostReference, p.BatchNo}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
