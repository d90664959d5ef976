package agent

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tezgah/tezgah/agent/protocol"
	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/outbox"
)

// callOriginal resolves params.original_id of a call (e.g. iyzico
// "refundable_sale_info") to the approved sale it names, so the adapter
// can ask its provider by the reference only the agent knows. A call
// without original_id is left as it is.
func (a *Agent) callOriginal(ctx context.Context, register string, c *bridge.Call) error {
	if len(c.Params) == 0 {
		return nil
	}
	var p struct {
		OriginalID *json.RawMessage `json:"original_id"`
	}
	if json.Unmarshal(c.Params, &p) != nil || p.OriginalID == nil {
		return nil // the adapter reports bad params with the right field
	}
	var id string
	if err := json.Unmarshal(*p.OriginalID, &id); err != nil || id == "" {
		return protocol.Errorf(protocol.CodeInvalidField, "params.original_id", "params.original_id must be the id of a sale")
	}
	orig, _, err := a.store.Get(ctx, register, id) // the same register's sale
	if errors.Is(err, outbox.ErrNotFound) {
		return protocol.Errorf(protocol.CodeUnknownOriginal, "params.original_id",
			"no sale with id %q (unknown, or older than the retention period)", id)
	}
	if err != nil {
		return err
	}
	if orig.Op != protocol.TypeSale || orig.Terminal != c.Terminal.Name {
		return protocol.Errorf(protocol.CodeInvalidOriginal, "params.original_id", "%q is not a sale on terminal %s", id, c.Terminal.Name)
	}
	var res bridge.Result
	if orig.State != outbox.Approved || json.Unmarshal(orig.Result, &res) != nil || res.Payment == nil {
		return protocol.Errorf(protocol.CodeInvalidOriginal, "params.original_id", "sale %q is %s, not approved", id, orig.State)
	}
	oc, _ := protocol.Decode(orig.Body)
	c.Original = &bridge.Original{ID: orig.ID, Reference: orig.Reference, Amount: oc.Amount, Payment: *res.Payment}
	return nil
}
