package iyzicosim

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tezgah/tezgah/bridge/iyzico"
)

var routes = map[string]handler{
	"/v2/terminal-host/gmu/payment":                          {"vuk507", "sale", func() any { return &iyzico.GmuPaymentRequest{} }, (*Server).sale507},
	"/v2/terminal-host/gmu/payment/query-transaction-status": {"vuk507", "query", func() any { return &iyzico.GmuQueryRequest{} }, (*Server).query507},
	"/v2/terminal-host/gmu/payment/refundable-sale-info":     {"vuk507", "refundable", func() any { return &iyzico.GmuRefundableSaleInfoRequest{} }, (*Server).refundable507},
	"/v2/terminal-host/gmu/payment/void":                     {"vuk507", "void", func() any { return &iyzico.GmuVoidRequest{} }, (*Server).void507},
	"/v2/terminal-host/gmu/payment/refund":                   {"vuk507", "refund", func() any { return &iyzico.GmuRefundRequest{} }, (*Server).refund507},
	"/v2/terminal-host/gmu/eod":                              {"vuk507", "eod", func() any { return &iyzico.GmuEodRequest{} }, (*Server).eod507},
	"/v2/terminal-host/gmu/partial-payment/start":            {"vuk507", "partial_start", func() any { return &iyzico.GmuPaymentRequest{} }, (*Server).partialStart},
	"/v2/terminal-host/gmu/partial-payment/add-payment":      {"vuk507", "partial_add", func() any { return &iyzico.GmuPartialAddRequest{} }, (*Server).partialAdd},
	"/v2/terminal-host/gmu/partial-payment/complete":         {"vuk507", "partial_complete", func() any { return &iyzico.GmuPartialCompleteRequest{} }, (*Server).partialComplete},
	"/v2/terminal-host/payment":                              {"vuk509", "sale", func() any { return &iyzico.PaymentRequest509{} }, (*Server).sale509},
	"/v2/terminal-host/payment/query-transaction-status":     {"vuk509", "query", func() any { return &iyzico.QueryRequest509{} }, (*Server).query509},
	"/v2/terminal-host/payment/refund":                       {"vuk509", "refund", func() any { return &iyzico.RefundRequest509{} }, (*Server).refund509},
	"/v2/terminal-host/payment/void":                         {"vuk509", "void", func() any { return &iyzico.VoidRequest509{} }, (*Server).void509},
	"/v2/terminal-host/eod":                                  {"vuk509", "eod", func() any { return &iyzico.EodRequest509{} }, (*Server).eod509},
}

// validate checks the schema's required fields (reference §3, §4).
func validate(req any) string {
	need := func(pairs ...string) string {
		for i := 0; i < len(pairs); i += 2 {
			if pairs[i+1] == "" {
				return pairs[i] + " is required"
			}
		}
		return ""
	}
	switch r := req.(type) {
	case *iyzico.GmuPaymentRequest:
		if m := need("deviceUniqueId", r.DeviceUniqueID, "transactionReferenceId", r.TransactionReferenceID, "price", r.Price,
			"paidPrice", r.PaidPrice, "saleAppName", r.SaleAppName, "saleAppVersion", r.SaleAppVersion,
			"saleDocumentType", r.SaleDocumentType, "paymentType", r.PaymentType); m != "" {
			return m
		}
		if r.SaleDocumentType != "1" && r.SaleDocumentType != "9" {
			return "saleDocumentType must be 1 or 9"
		}
		if r.PaymentType != "CARD" && r.PaymentType != "CASH" {
			return "paymentType must be CARD or CASH"
		}
		if len(r.SaleItems) == 0 {
			return "saleItems must have at least one item"
		}
		if r.Currency != "" && r.Currency != "TRY" && r.Currency != "USD" && r.Currency != "EUR" {
			return "currency must be TRY, USD or EUR"
		}
		for i, it := range r.SaleItems {
			if m := need("name", it.Name, "unitCode", it.UnitCode, "taxGroupCode", it.TaxGroupCode, "unitPriceAmount", it.UnitPriceAmount,
				"grossPriceAmount", it.GrossPriceAmount, "totalPriceAmount", it.TotalPriceAmount); m != "" {
				return "saleItems[" + strconv.Itoa(i) + "]." + m
			}
			if it.ItemQuantity < 1 {
				return "saleItems[" + strconv.Itoa(i) + "].itemQuantity must be at least 1"
			}
		}
	case *iyzico.GmuPartialAddRequest:
		return need("saleNumber", r.SaleNumber, "price", r.Price)
	case *iyzico.GmuPartialCompleteRequest:
		return need("deviceUniqueId", r.DeviceUniqueID, "transactionReferenceId", r.TransactionReferenceID, "saleNumber", r.SaleNumber)
	case *iyzico.GmuQueryRequest:
		if r.PaymentID == "" && r.TransactionReferenceID == "" {
			return "either transactionReferenceId or paymentId must be provided"
		}
	case *iyzico.GmuRefundableSaleInfoRequest:
		return need("transactionReferenceId", r.TransactionReferenceID)
	case *iyzico.GmuVoidRequest:
		if r.PaymentDate == 0 {
			return "paymentDate is required"
		}
		return need("deviceUniqueId", r.DeviceUniqueID, "paymentId", r.PaymentID, "transactionReferenceId", r.TransactionReferenceID)
	case *iyzico.GmuRefundRequest:
		if r.PaymentDate == 0 {
			return "paymentDate is required"
		}
		if len(r.SaleItems) == 0 {
			return "saleItems must have at least one item"
		}
		return need("deviceUniqueId", r.DeviceUniqueID, "paymentId", r.PaymentID, "transactionReferenceId", r.TransactionReferenceID,
			"saleAppName", r.SaleAppName, "saleAppVersion", r.SaleAppVersion)
	case *iyzico.GmuEodRequest:
		return need("deviceUniqueId", r.DeviceUniqueID)
	case *iyzico.PaymentRequest509:
		if r.SalesType != "SALE" && r.SalesType != "PRE_AUTH" && r.SalesType != "POST_AUTH" {
			return "salesType must be SALE, PRE_AUTH or POST_AUTH"
		}
		return need("conversationId", r.ConversationID, "locale", locale509(r.Locale), "deviceUniqueId", r.DeviceUniqueID,
			"transactionReferenceId", r.TransactionReferenceID, "price", string(r.Price), "currency", r.Currency)
	case *iyzico.QueryRequest509:
		if r.PaymentID == "" && (r.DeviceUniqueID == "" || r.TransactionReferenceID == "") {
			return "either transactionReferenceId or paymentId must be provided"
		}
		return need("conversationId", r.ConversationID, "locale", locale509(r.Locale))
	case *iyzico.RefundRequest509:
		return need("conversationId", r.ConversationID, "locale", locale509(r.Locale), "paymentId", r.PaymentID, "deviceUniqueId", r.DeviceUniqueID,
			"price", string(r.Price), "transactionReferenceId", r.TransactionReferenceID, "paymentDate", r.PaymentDate)
	case *iyzico.VoidRequest509:
		return need("conversationId", r.ConversationID, "locale", locale509(r.Locale), "paymentId", r.PaymentID, "paymentDate", r.PaymentDate,
			"deviceUniqueId", r.DeviceUniqueID, "transactionReferenceId", r.TransactionReferenceID)
	case *iyzico.EodRequest509:
		return need("conversationId", r.ConversationID, "locale", locale509(r.Locale), "deviceUniqueId", r.DeviceUniqueID)
	}
	return ""
}

// locale509 returns "" unless l is the VUK 509 enum tr/en, so need()
// reports it.
func locale509(l string) string {
	if l == "tr" || l == "en" {
		return l
	}
	return ""
}

func deviceOf(req any) string {
	switch r := req.(type) {
	case *iyzico.GmuPaymentRequest:
		return r.DeviceUniqueID
	case *iyzico.GmuQueryRequest:
		return r.DeviceUniqueID
	case *iyzico.GmuRefundableSaleInfoRequest:
		return r.DeviceUniqueID
	case *iyzico.GmuVoidRequest:
		return r.DeviceUniqueID
	case *iyzico.GmuRefundRequest:
		return r.DeviceUniqueID
	case *iyzico.GmuEodRequest:
		return r.DeviceUniqueID
	case *iyzico.PaymentRequest509:
		return r.DeviceUniqueID
	case *iyzico.QueryRequest509:
		return r.DeviceUniqueID
	case *iyzico.RefundRequest509:
		return r.DeviceUniqueID
	case *iyzico.VoidRequest509:
		return r.DeviceUniqueID
	case *iyzico.EodRequest509:
		return r.DeviceUniqueID
	case *iyzico.GmuPartialAddRequest:
		return r.DeviceUniqueID
	case *iyzico.GmuPartialCompleteRequest:
		return r.DeviceUniqueID
	}
	return ""
}

// moneyRef is the transactionReferenceId of a call that changes state,
// "" for read-only calls and end of day.
func moneyRef(req any) string {
	switch r := req.(type) {
	case *iyzico.GmuPaymentRequest:
		return r.TransactionReferenceID
	case *iyzico.GmuVoidRequest:
		return r.TransactionReferenceID
	case *iyzico.GmuRefundRequest:
		return r.TransactionReferenceID
	case *iyzico.GmuPartialAddRequest:
		return r.TransactionReferenceID
	case *iyzico.GmuPartialCompleteRequest:
		return r.TransactionReferenceID
	case *iyzico.PaymentRequest509:
		return r.TransactionReferenceID
	case *iyzico.RefundRequest509:
		return r.TransactionReferenceID
	case *iyzico.VoidRequest509:
		return r.TransactionReferenceID
	}
	return ""
}

const (
	notFoundCode = "380108" // "Payment not found with id: {0}" — used for an unknown reference; the reference lists no dedicated code
	declineCode  = "10051"  // a classic iyzico bank code, as forwarded under BANK_ERROR (§5)
)

// charge runs the common part of a sale: decline rule, payment, ledger.
func (s *Server) charge(model, ref, dev, cur string, amount int64) (*payment, *iyzico.Envelope) {
	if amount%100 == 51 {
		env := iyzico.Envelope{Status: "failure", ErrorCode: declineCode, ErrorGroup: "BANK_ERROR", ErrorMessage: "Yetersiz bakiye"}
		if model == "vuk509" {
			env.ConsumerErrorMessage = "Kartınızın bakiyesi yetersiz"
		}
		s.byRef[ref] = &txn{op: "sale", ref: ref, device: dev, failed: &env}
		return nil, &env
	}
	p := s.nextPayment(ref, dev, cur, amount, s.devices[dev])
	s.record("sale", p, ref, amount)
	return p, nil
}

func ok507(p *payment, ref string) iyzico.GmuPaymentResponse {
	return iyzico.GmuPaymentResponse{
		Envelope:       iyzico.Envelope{Status: "success", ErrorCode: "0", ConversationID: ref},
		DeviceUniqueID: p.device, TransactionReferenceID: p.ref, PaymentID: p.id, PaymentDate: p.date,
		Price: amountString(p.amount, p.currency), Installment: 1, Currency: p.currency, AuthCode: p.authCode,
		BinNumber: "552879", LastFourDigits: "0008", HostReference: p.hostRef, CardType: "CREDIT_CARD",
		BatchNo: strconv.Itoa(p.batch),
	}
}

func (s *Server) sale507(req any) (int, any, bool) {
	r := req.(*iyzico.GmuPaymentRequest)
	cur := r.Currency
	if cur == "" {
		cur = "TRY"
	}
	amount, lines, st, body := saleLines("sale", r, cur)
	if lines == nil {
		return st, body, false
	}
	p, env := s.charge("vuk507", r.TransactionReferenceID, r.DeviceUniqueID, cur, amount)
	if env != nil {
		return http.StatusBadRequest, env, false
	}
	p.lines = lines
	resp := ok507(p, r.ConversationID)
	// §4.1: the answer lists the added lines (AddedSaleItem: no
	// relatedSaleItemId or returnAmount).
	for _, it := range r.SaleItems {
		it.RelatedSaleItemID, it.ReturnAmount = "", ""
		resp.SaleItems = append(resp.SaleItems, it)
	}
	s.byRef[r.TransactionReferenceID] = &txn{op: "sale", ref: r.TransactionReferenceID, device: r.DeviceUniqueID, pay: p, response: resp}
	return http.StatusOK, resp, true
}

// lookup finds a transaction by reference, or by payment id.
func (s *Server) lookup(ref, paymentID string) *txn {
	if ref != "" {
		return s.byRef[ref]
	}
	if p, ok := s.payments[paymentID]; ok {
		return s.byRef[p.ref]
	}
	return nil
}

func (s *Server) query507(req any) (int, any, bool) {
	r := req.(*iyzico.GmuQueryRequest)
	t := s.lookup(r.TransactionReferenceID, r.PaymentID)
	if t == nil {
		return fail("vuk507", "query", notFoundCode, "BUSINESS_ERROR", "Payment not found with id: "+r.TransactionReferenceID+r.PaymentID)
	}
	if t.failed != nil {
		return http.StatusBadRequest, t.failed, false
	}
	if q, ok := t.response.(iyzico.GmuPaymentResponse); ok && t.op != "sale" {
		q.ConversationID = r.ConversationID
		return http.StatusOK, q, false
	}
	resp := ok507(t.pay, r.ConversationID)
	resp.TransactionReferenceID = t.ref
	return http.StatusOK, resp, false
}

func (s *Server) refundable507(req any) (int, any, bool) {
	r := req.(*iyzico.GmuRefundableSaleInfoRequest)
	t := s.byRef[r.TransactionReferenceID]
	if t == nil || t.pay == nil || t.op != "sale" {
		return fail("vuk507", "refundable", notFoundCode, "BUSINESS_ERROR", "Payment not found with id: "+r.TransactionReferenceID)
	}
	p := t.pay
	resp := iyzico.GmuRefundableSaleInfoResponse{
		Envelope:   iyzico.Envelope{Status: "success", ErrorCode: "0", ConversationID: r.ConversationID},
		SaleNumber: p.id, SaleUID: "sale-" + p.id, Currency: p.currency, SaleItems: []iyzico.RefundableItem{},
	}
	var total int64
	for _, l := range p.lines {
		left, qty := l.left, l.qty-l.returned
		if p.voided {
			left, qty = 0, 0
		}
		total += left
		resp.SaleItems = append(resp.SaleItems, iyzico.RefundableItem{ID: l.id, Name: l.name, ItemQuantity: l.qty,
			TotalPriceAmount: amountString(l.total, p.currency), ReturnableQuantity: qty, ReturnableAmount: amountString(left, p.currency)})
	}
	resp.TotalReturnableAmount = amountString(total, p.currency)
	return http.StatusOK, resp, false
}

// voidable applies the void rules shared by both models.
func (s *Server) voidable(model, paymentID, dev string) (*payment, int, any) {
	p, ok := s.payments[paymentID]
	if !ok || p.device != dev {
		st, body, _ := fail(model, "void", "380107", "BUSINESS_ERROR", "Payment not found with paymentId: "+paymentID)
		return nil, st, body
	}
	if p.voided || p.refunded > 0 {
		st, body, _ := fail(model, "void", "380112", "BUSINESS_ERROR", "the amount you want to cancel is not available")
		return nil, st, body
	}
	if p.batch != s.devices[dev].batch {
		// The reference documents no code for "void after end of day"
		// (§4.4 says only that refund must be used); 380112 is the nearest
		// documented business error.
		st, body, _ := fail(model, "void", "380112", "BUSINESS_ERROR", "Void is only possible before end of day; use refund for this payment")
		return nil, st, body
	}
	return p, 0, nil
}

func (s *Server) void507(req any) (int, any, bool) {
	r := req.(*iyzico.GmuVoidRequest)
	p, st, body := s.voidable("vuk507", r.PaymentID, r.DeviceUniqueID)
	if p == nil {
		return st, body, false
	}
	p.voided = true
	s.record("void", p, r.TransactionReferenceID, p.amount)
	s.seq++
	resp := iyzico.GmuVoidResponse{
		Envelope:       iyzico.Envelope{Status: "success", ErrorCode: "0", ConversationID: r.ConversationID},
		DeviceUniqueID: p.device, TransactionReferenceID: r.TransactionReferenceID, PaymentID: p.id,
		Price: amountString(p.amount, p.currency), Currency: p.currency, AuthCode: p.authCode, HostReference: p.hostRef,
		CancelHostReference: "CHR-" + r.TransactionReferenceID, PaymentDate: p.date, BinNumber: "552879", LastFourDigits: "0008",
	}
	s.byRef[r.TransactionReferenceID] = &txn{op: "void", ref: r.TransactionReferenceID, device: p.device, pay: p,
		response: voidAsPayment(p, r.TransactionReferenceID)}
	return http.StatusOK, resp, true
}

func voidAsPayment(p *payment, ref string) iyzico.GmuPaymentResponse {
	resp := ok507(p, ref)
	resp.TransactionReferenceID = ref
	resp.CancelHostReference = "CHR-" + ref
	return resp
}

// refundable checks a refund of amount against what is left (§4.5).
func (s *Server) refundable(model, paymentID, dev string, amount int64) (*payment, int, any) {
	p, ok := s.payments[paymentID]
	if !ok || p.device != dev {
		st, body, _ := fail(model, "refund", "380107", "BUSINESS_ERROR", "Payment not found with paymentId: "+paymentID)
		return nil, st, body
	}
	if p.voided || p.refunded+amount > p.amount {
		st, body, _ := fail(model, "refund", "380112", "BUSINESS_ERROR", "the amount you want to refund is not available in your account")
		return nil, st, body
	}
	return p, 0, nil
}

func (s *Server) refund507(req any) (int, any, bool) {
	r := req.(*iyzico.GmuRefundRequest)
	p0, ok := s.payments[r.PaymentID]
	cur := "TRY"
	if ok {
		cur = p0.currency
	}
	var amount int64
	take := map[*line]int64{}
	qty := map[*line]int{}
	for _, it := range r.SaleItems {
		a, ok := parseAmount(it.ReturnAmount, cur)
		if !ok || it.RelatedSaleItemID == "" {
			return fail("vuk507", "refund", "380105", "VALIDATION_ERROR", "saleItems need relatedSaleItemId and a positive returnAmount")
		}
		amount += a
		var l *line
		if p0 != nil {
			for _, c := range p0.lines {
				if strconv.Itoa(c.id) == it.RelatedSaleItemID {
					l = c
				}
			}
		}
		if p0 != nil && l == nil {
			return fail("vuk507", "refund", "380105", "VALIDATION_ERROR", "relatedSaleItemId "+it.RelatedSaleItemID+" is not a line of the sale")
		}
		if l != nil && (it.TaxGroupCode != l.taxGroup || it.UnitCode != l.unit) {
			return fail("vuk507", "refund", "380105", "VALIDATION_ERROR", fmt.Sprintf("relatedSaleItemId %s was sold under taxGroupCode %s, unitCode %s; the refund line says %s, %s",
				it.RelatedSaleItemID, l.taxGroup, l.unit, it.TaxGroupCode, it.UnitCode))
		}
		if l != nil {
			take[l] += a
			qty[l] += it.ItemQuantity
		}
	}
	p, st, body := s.refundable("vuk507", r.PaymentID, r.DeviceUniqueID, amount)
	if p == nil {
		return st, body, false
	}
	for l, a := range take {
		if a > l.left {
			return fail("vuk507", "refund", "380112", "BUSINESS_ERROR", "the amount you want to refund is not available for item "+strconv.Itoa(l.id))
		}
	}
	for l, a := range take {
		l.left -= a
		l.returned = min(l.qty, l.returned+qty[l])
	}
	p.refunded += amount
	s.record("refund", p, r.TransactionReferenceID, amount)
	resp := iyzico.GmuRefundResponse{
		Envelope:       iyzico.Envelope{Status: "success", ErrorCode: "0", ConversationID: r.ConversationID},
		DeviceUniqueID: p.device, TransactionReferenceID: r.TransactionReferenceID, Price: amountString(amount, cur),
		Currency: cur, AuthCode: p.authCode, HostReference: "RHR-" + r.TransactionReferenceID, BinNumber: "552879", LastFourDigits: "0008",
		BatchNo: strconv.Itoa(s.devices[p.device].batch),
	}
	q := ok507(p, r.ConversationID)
	q.TransactionReferenceID, q.Price, q.RefundHostReference = r.TransactionReferenceID, resp.Price, resp.HostReference
	s.byRef[r.TransactionReferenceID] = &txn{op: "refund", ref: r.TransactionReferenceID, device: p.device, pay: p, response: q}
	return http.StatusOK, resp, true
}

// closeBatch totals the device's current batch and starts a new one.
func (s *Server) closeBatch(dev string) (string, []iyzico.Tail) {
	d := s.devices[dev]
	var total int64
	count := 0
	cur := "TRY"
	for _, e := range s.ledger {
		p := s.payments[e.PaymentID]
		if e.Device != dev || p == nil || p.batch != d.batch {
			continue
		}
		count++
		cur = e.Currency
		if e.Op == "sale" {
			total += e.Amount
		} else {
			total -= e.Amount
		}
	}
	batch := strconv.Itoa(d.batch)
	d.batch++
	return batch, []iyzico.Tail{{AcquirerID: "46", TerminalID: "T" + dev, BankMerchantID: "M000001", TotalTransactionAmount: amountString(total, cur),
		TotalTransactionCount: strconv.Itoa(count), AcquirerName: "SIM BANK", BatchNo: batch, ResponseCode: "00"}}
}

func (s *Server) eod507(req any) (int, any, bool) {
	r := req.(*iyzico.GmuEodRequest)
	s.hits["eod useSummary="+strconv.FormatBool(r.UseSummary)]++
	batch, tails := s.closeBatch(r.DeviceUniqueID)
	return http.StatusOK, iyzico.GmuEodResponse{Envelope: iyzico.Envelope{Status: "success", ErrorCode: "0", ConversationID: r.ConversationID},
		BatchNo: batch, ResultMessage: "Gün sonu başarılı", Tails: tails}, false
}

func ok509(p *payment, ref, conv string) iyzico.PaymentResponse509 {
	return iyzico.PaymentResponse509{
		Envelope:       iyzico.Envelope{Status: "SUCCESS", ConversationID: conv, Locale: "tr"},
		DeviceUniqueID: p.device, TransactionReferenceID: ref, AuthCode: p.authCode, PaymentID: p.id,
		PaymentDate: strconv.Itoa(p.date), Price: jsonNumber(amountString(p.amount, p.currency)), Currency: p.currency,
		BinNumber: "552879", LastFourDigits: "0008", HostReference: p.hostRef, CardType: "CREDIT_CARD", BatchNo: strconv.Itoa(p.batch),
	}
}

func (s *Server) sale509(req any) (int, any, bool) {
	r := req.(*iyzico.PaymentRequest509)
	amount, ok := parseAmount(string(r.Price), strings.ToUpper(r.Currency))
	if !ok {
		return fail("vuk509", "sale", "380105", "VALIDATION_ERROR", "price must be a positive amount with at most 2 decimals")
	}
	p, env := s.charge("vuk509", r.TransactionReferenceID, r.DeviceUniqueID, strings.ToUpper(r.Currency), amount)
	if env != nil {
		return http.StatusBadRequest, env, false
	}
	p.lines = []*line{{id: 1, name: "Satış", qty: 1, total: amount, left: amount}}
	resp := ok509(p, r.TransactionReferenceID, r.ConversationID)
	s.byRef[r.TransactionReferenceID] = &txn{op: "sale", ref: r.TransactionReferenceID, device: r.DeviceUniqueID, pay: p, response: resp}
	return http.StatusOK, resp, true
}

func (s *Server) query509(req any) (int, any, bool) {
	r := req.(*iyzico.QueryRequest509)
	t := s.lookup(r.TransactionReferenceID, r.PaymentID)
	if t == nil {
		return fail("vuk509", "query", notFoundCode, "BUSINESS_ERROR", "Payment not found with id: "+r.TransactionReferenceID+r.PaymentID)
	}
	if t.failed != nil {
		return http.StatusBadRequest, t.failed, false
	}
	if q, ok := t.response.(iyzico.PaymentResponse509); ok && t.op != "sale" {
		q.ConversationID = r.ConversationID
		return http.StatusOK, q, false
	}
	return http.StatusOK, ok509(t.pay, t.ref, r.ConversationID), false
}

func (s *Server) refund509(req any) (int, any, bool) {
	r := req.(*iyzico.RefundRequest509)
	p0, ok := s.payments[r.PaymentID]
	cur := "TRY"
	if ok {
		cur = p0.currency
	}
	amount, ok := parseAmount(string(r.Price), cur)
	if !ok {
		return fail("vuk509", "refund", "380105", "VALIDATION_ERROR", "price must be a positive amount")
	}
	p, st, body := s.refundable("vuk509", r.PaymentID, r.DeviceUniqueID, amount)
	if p == nil {
		return st, body, false
	}
	for _, l := range p.lines {
		l.left -= min(l.left, amount)
	}
	p.refunded += amount
	s.record("refund", p, r.TransactionReferenceID, amount)
	resp := ok509(p, r.TransactionReferenceID, r.ConversationID)
	resp.Price, resp.RefundHostReference = jsonNumber(amountString(amount, cur)), "RHR-"+r.TransactionReferenceID
	s.byRef[r.TransactionReferenceID] = &txn{op: "refund", ref: r.TransactionReferenceID, device: p.device, pay: p, response: resp}
	return http.StatusOK, resp, true
}

func (s *Server) void509(req any) (int, any, bool) {
	r := req.(*iyzico.VoidRequest509)
	p, st, body := s.voidable("vuk509", r.PaymentID, r.DeviceUniqueID)
	if p == nil {
		return st, body, false
	}
	p.voided = true
	s.record("void", p, r.TransactionReferenceID, p.amount)
	resp := ok509(p, r.TransactionReferenceID, r.ConversationID)
	resp.CancelHostReference = "CHR-" + r.TransactionReferenceID
	s.byRef[r.TransactionReferenceID] = &txn{op: "void", ref: r.TransactionReferenceID, device: p.device, pay: p, response: resp}
	return http.StatusOK, resp, true
}

func (s *Server) eod509(req any) (int, any, bool) {
	r := req.(*iyzico.EodRequest509)
	s.hits["eod useSummary="+strconv.FormatBool(r.UseSummary)]++
	batch, totals := s.closeBatch(r.DeviceUniqueID)
	return http.StatusOK, iyzico.EodResponse509{Envelope: iyzico.Envelope{Status: "SUCCESS", ConversationID: r.ConversationID, Locale: r.Locale},
		BatchNo: batch, ResultMessage: "Gün sonu başarılı", Totals: totals}, false
}
