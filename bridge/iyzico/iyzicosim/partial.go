package iyzicosim

import (
	"net/http"
	"strconv"

	"github.com/tezgah/tezgah/bridge/iyzico"
)

// partial is one partial-payment flow (reference §4.6): a basket opened
// by start, paid by one or more add-payment calls, closed by complete.
type partial struct {
	saleNumber, ref, device, currency string
	total, paid                       int64
	lines                             []*line
	completed                         bool
	batch, date                       int
}

// saleLines checks a GmuPaymentRequest's lines against its price and
// turns them into the device's lines. A nil slice comes with the failure
// answer.
func saleLines(op string, r *iyzico.GmuPaymentRequest, cur string) (int64, []*line, int, any) {
	amount, ok := parseAmount(r.Price, cur)
	if !ok {
		st, body, _ := fail("vuk507", op, "380105", "VALIDATION_ERROR", "price must be a positive decimal")
		return 0, nil, st, body
	}
	if paid, ok := parseAmount(r.PaidPrice, cur); !ok || paid != amount {
		st, body, _ := fail("vuk507", op, "380105", "VALIDATION_ERROR", "paidPrice must be a positive decimal equal to price (the simulator knows no discounts)")
		return 0, nil, st, body
	}
	var sum int64
	lines := make([]*line, 0, len(r.SaleItems))
	for i, it := range r.SaleItems {
		total, ok := parseAmount(it.TotalPriceAmount, cur)
		_, ok1 := parseAmount(it.UnitPriceAmount, cur)
		_, ok2 := parseAmount(it.GrossPriceAmount, cur)
		if !ok || !ok1 || !ok2 {
			st, body, _ := fail("vuk507", op, "380105", "VALIDATION_ERROR", "saleItems["+strconv.Itoa(i)+"] amounts must be positive decimals")
			return 0, nil, st, body
		}
		sum += total
		lines = append(lines, &line{id: i + 1, name: it.Name, qty: it.ItemQuantity, total: total, left: total, taxGroup: it.TaxGroupCode, unit: it.UnitCode})
	}
	if sum != amount {
		st, body, _ := fail("vuk507", op, "380105", "VALIDATION_ERROR", "the saleItems' totalPriceAmount must add up to price")
		return 0, nil, st, body
	}
	return amount, lines, 0, nil
}

func (s *Server) partialStart(req any) (int, any, bool) {
	r := req.(*iyzico.GmuPaymentRequest)
	cur := r.Currency
	if cur == "" {
		cur = "TRY"
	}
	amount, lines, st, body := saleLines("partial_start", r, cur)
	if lines == nil {
		return st, body, false
	}
	s.seq++
	date, _ := strconv.Atoi(s.now().Format("20060102"))
	p := &partial{saleNumber: "SN" + strconv.Itoa(5500000+s.seq), ref: r.TransactionReferenceID, device: r.DeviceUniqueID,
		currency: cur, total: amount, lines: lines, batch: s.devices[r.DeviceUniqueID].batch, date: date}
	s.partials[p.saleNumber] = p
	// The reference is silent on what query-transaction-status says of a
	// start; the simulator answers with the open sale and its saleNumber.
	s.byRef[p.ref] = &txn{op: "partial_start", ref: p.ref, device: p.device, response: iyzico.GmuPaymentResponse{
		Envelope:       iyzico.Envelope{Status: "success", ErrorCode: "0"},
		DeviceUniqueID: p.device, TransactionReferenceID: p.ref, Price: amountString(amount, cur), Currency: cur,
		PaymentDate: date, SaleNumber: p.saleNumber,
	}}
	return http.StatusOK, iyzico.GmuPartialStartResponse{
		Envelope:   iyzico.Envelope{Status: "success", ErrorCode: "0", ConversationID: r.ConversationID},
		SaleNumber: p.saleNumber, RemainingPaymentAmount: amountString(amount, cur),
	}, true
}

// openPartial finds an open flow of the device.
func (s *Server) openPartial(op, saleNumber, dev string) (*partial, int, any) {
	p := s.partials[saleNumber]
	if p == nil || p.device != dev {
		st, body, _ := fail("vuk507", op, "380107", "BUSINESS_ERROR", "Payment not found with paymentId: "+saleNumber)
		return nil, st, body
	}
	if p.completed {
		st, body, _ := fail("vuk507", op, "380105", "VALIDATION_ERROR", "partial payment "+saleNumber+" is already completed")
		return nil, st, body
	}
	return p, 0, nil
}

func (s *Server) partialAdd(req any) (int, any, bool) {
	r := req.(*iyzico.GmuPartialAddRequest)
	dev := r.DeviceUniqueID
	if p := s.partials[r.SaleNumber]; dev == "" && p != nil {
		dev = p.device
	}
	fl, st, body := s.openPartial("partial_add", r.SaleNumber, dev)
	if fl == nil {
		return st, body, false
	}
	if r.Currency != "" && r.Currency != fl.currency {
		return fail("vuk507", "partial_add", "380105", "VALIDATION_ERROR", "currency must be the sale's "+fl.currency)
	}
	amount, ok := parseAmount(r.Price, fl.currency)
	if !ok {
		return fail("vuk507", "partial_add", "380105", "VALIDATION_ERROR", "price must be a positive decimal")
	}
	if amount > fl.total-fl.paid {
		return fail("vuk507", "partial_add", "380105", "VALIDATION_ERROR",
			"price "+r.Price+" exceeds the remaining amount "+amountString(fl.total-fl.paid, fl.currency))
	}
	pay, env := s.charge("vuk507", r.TransactionReferenceID, fl.device, fl.currency, amount)
	if env != nil {
		return http.StatusBadRequest, env, false
	}
	pay.lines = []*line{{id: 1, name: "Kısmi ödeme", qty: 1, total: amount, left: amount}}
	fl.paid += amount
	resp := ok507(pay, r.ConversationID)
	resp.SaleNumber = fl.saleNumber
	s.byRef[r.TransactionReferenceID] = &txn{op: "partial_add", ref: r.TransactionReferenceID, device: fl.device, pay: pay, response: resp}
	return http.StatusOK, resp, true
}

func (s *Server) partialComplete(req any) (int, any, bool) {
	r := req.(*iyzico.GmuPartialCompleteRequest)
	fl, st, body := s.openPartial("partial_complete", r.SaleNumber, r.DeviceUniqueID)
	if fl == nil {
		return st, body, false
	}
	if rest := fl.total - fl.paid; rest > 0 {
		resp := iyzico.GmuPartialCompleteResponse{RemainingPaymentAmount: amountString(rest, fl.currency)}
		resp.Envelope = iyzico.Envelope{Status: "failure", ErrorCode: "380105", ErrorGroup: "VALIDATION_ERROR",
			ErrorMessage: "the sale is not fully paid: " + resp.RemainingPaymentAmount + " remaining"}
		return http.StatusBadRequest, resp, false
	}
	fl.completed = true
	resp := iyzico.GmuPartialCompleteResponse{
		GmuPaymentResponse: iyzico.GmuPaymentResponse{
			Envelope:       iyzico.Envelope{Status: "success", ErrorCode: "0", ConversationID: r.ConversationID},
			DeviceUniqueID: fl.device, TransactionReferenceID: r.TransactionReferenceID, PaymentID: fl.saleNumber, PaymentDate: fl.date,
			Price: amountString(fl.total, fl.currency), Installment: 1, Currency: fl.currency, BatchNo: strconv.Itoa(fl.batch),
			SaleNumber: fl.saleNumber,
		},
		RemainingPaymentAmount: amountString(0, fl.currency),
	}
	s.byRef[r.TransactionReferenceID] = &txn{op: "partial_complete", ref: r.TransactionReferenceID, device: fl.device, response: resp.GmuPaymentResponse}
	return http.StatusOK, resp, true
}
