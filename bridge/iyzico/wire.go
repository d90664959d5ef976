package iyzico

import "encoding/json"

// Wire types, field for field from ../shared/reference/iyzico-terminal-api.md
// (sections cited) and iyzico-openapi.yaml. Shared by the adapter and the
// simulator (iyzicosim), so both speak exactly one format.

// AuthorizeResponse is §2.1's 200 body.
type AuthorizeResponse struct {
	Code      string `json:"code"`
	IssuedAt  string `json:"issuedAt"`
	ExpiredAt string `json:"expiredAt"`
}

// TokenResponse is §2.2's 200 body.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Envelope is the error part every business response carries (§5).
type Envelope struct {
	Status               string `json:"status"`
	ErrorCode            string `json:"errorCode,omitempty"`
	ErrorMessage         string `json:"errorMessage,omitempty"`
	ErrorGroup           string `json:"errorGroup,omitempty"`
	ConsumerErrorMessage string `json:"consumerErrorMessage,omitempty"` // VUK 509 failures
	ConversationID       string `json:"conversationId,omitempty"`
	SystemTime           int64  `json:"systemTime,omitempty"`
	Locale               string `json:"locale,omitempty"`
}

// SaleItem is the VUK 507 SaleItem (§4.1). relatedSaleItemId and
// returnAmount are listed as required by the published schema for every
// use, but only mean something on a refund; we omit them on sales
// (reference §4.1 [inferred], open question 6).
type SaleItem struct {
	Name              string `json:"name"`
	Generic           bool   `json:"generic"`
	UnitCode          string `json:"unitCode"`
	TaxGroupCode      string `json:"taxGroupCode"`
	ItemQuantity      int    `json:"itemQuantity"`
	UnitPriceAmount   string `json:"unitPriceAmount"`
	GrossPriceAmount  string `json:"grossPriceAmount"`
	TotalPriceAmount  string `json:"totalPriceAmount"`
	RelatedSaleItemID string `json:"relatedSaleItemId,omitempty"`
	ReturnAmount      string `json:"returnAmount,omitempty"`
}

// GmuPaymentRequest is POST /v2/terminal-host/gmu/payment (§4.1).
type GmuPaymentRequest struct {
	Locale                 string     `json:"locale,omitempty"`
	ConversationID         string     `json:"conversationId,omitempty"`
	DeviceUniqueID         string     `json:"deviceUniqueId"`
	TransactionReferenceID string     `json:"transactionReferenceId"`
	Price                  string     `json:"price"`
	PaidPrice              string     `json:"paidPrice"`
	PaymentType            string     `json:"paymentType"`
	Currency               string     `json:"currency,omitempty"`
	Installment            int        `json:"installment,omitempty"`
	SaleAppName            string     `json:"saleAppName"`
	SaleAppVersion         string     `json:"saleAppVersion"`
	SaleDocumentType       string     `json:"saleDocumentType"`
	NotificationPhone      string     `json:"notificationPhone,omitempty"`
	NotificationEmail      string     `json:"notificationEmail,omitempty"`
	SaleItems              []SaleItem `json:"saleItems"`
	BuyerInfo              *BuyerInfo `json:"buyerInfo,omitempty"`
}

// BuyerInfo is §4.1's buyer, "required if the buyer is not a final
// consumer".
type BuyerInfo struct {
	CustomerType  int    `json:"customerType"` // 1 individual, 2 corporate
	FirstName     string `json:"firstName,omitempty"`
	MiddleName    string `json:"middleName,omitempty"`
	FamilyName    string `json:"familyName,omitempty"`
	CompanyName   string `json:"companyName,omitempty"`
	TaxOfficeCode string `json:"taxOfficeCode,omitempty"`
	TaxNumber     string `json:"taxNumber,omitempty"` // VKN or TCKN
	Country       string `json:"country,omitempty"`
	City          string `json:"city,omitempty"`
	District      string `json:"district,omitempty"`
}

// GmuPartialStartResponse is §4.6 step 1's answer.
type GmuPartialStartResponse struct {
	Envelope
	SaleNumber             string `json:"saleNumber,omitempty"`
	RemainingPaymentAmount string `json:"remainingPaymentAmount,omitempty"`
}

// GmuPartialAddRequest is §4.6 step 2. It has no paymentType: every
// added part is a card payment as far as the schema tells.
type GmuPartialAddRequest struct {
	Locale                 string `json:"locale,omitempty"`
	ConversationID         string `json:"conversationId,omitempty"`
	DeviceUniqueID         string `json:"deviceUniqueId,omitempty"`
	TransactionReferenceID string `json:"transactionReferenceId,omitempty"`
	SaleNumber             string `json:"saleNumber"`
	Price                  string `json:"price"`
	Installment            int    `json:"installment,omitempty"`
	Currency               string `json:"currency,omitempty"`
}

// GmuPartialCompleteRequest is §4.6 step 3.
type GmuPartialCompleteRequest struct {
	Locale                 string `json:"locale,omitempty"`
	ConversationID         string `json:"conversationId,omitempty"`
	DeviceUniqueID         string `json:"deviceUniqueId"`
	TransactionReferenceID string `json:"transactionReferenceId"`
	SaleNumber             string `json:"saleNumber"`
}

// GmuPartialCompleteResponse is §4.6 step 3's answer: the sale plus what
// is left to pay (0 on success).
type GmuPartialCompleteResponse struct {
	GmuPaymentResponse
	RemainingPaymentAmount string `json:"remainingPaymentAmount,omitempty"`
}

// GmuPaymentResponse is the VUK 507 payment/query answer (§4.1, §4.2).
type GmuPaymentResponse struct {
	Envelope
	DeviceUniqueID         string     `json:"deviceUniqueId,omitempty"`
	TransactionReferenceID string     `json:"transactionReferenceId,omitempty"`
	TransactionDateTime    string     `json:"transactionDateTime,omitempty"`
	PaymentID              string     `json:"paymentId,omitempty"`
	PaymentDate            int        `json:"paymentDate,omitempty"` // YYYYMMDD as an integer on VUK 507
	Price                  string     `json:"price,omitempty"`
	Installment            int        `json:"installment,omitempty"`
	Currency               string     `json:"currency,omitempty"`
	AuthCode               string     `json:"authCode,omitempty"`
	BinNumber              string     `json:"binNumber,omitempty"`
	LastFourDigits         string     `json:"lastFourDigits,omitempty"`
	HostReference          string     `json:"hostReference,omitempty"`
	CardType               string     `json:"cardType,omitempty"`
	BatchNo                string     `json:"batchNo,omitempty"`
	StanNo                 string     `json:"stanNo,omitempty"`
	SaleItems              []SaleItem `json:"saleItems,omitempty"` // AddedSaleItem: no relatedSaleItemId/returnAmount
	SaleNumber             string     `json:"saleNumber,omitempty"`
	CancelHostReference    string     `json:"cancelHostReference,omitempty"`
	RefundHostReference    string     `json:"refundHostReference,omitempty"`
}

// GmuQueryRequest is query-transaction-status (§4.2): at least one of
// paymentId and transactionReferenceId.
type GmuQueryRequest struct {
	Locale                 string `json:"locale,omitempty"`
	ConversationID         string `json:"conversationId,omitempty"`
	PaymentID              string `json:"paymentId,omitempty"`
	DeviceUniqueID         string `json:"deviceUniqueId,omitempty"`
	TransactionReferenceID string `json:"transactionReferenceId,omitempty"`
}

// GmuRefundableSaleInfoRequest is §4.3.
type GmuRefundableSaleInfoRequest struct {
	Locale                 string `json:"locale,omitempty"`
	ConversationID         string `json:"conversationId,omitempty"`
	DeviceUniqueID         string `json:"deviceUniqueId,omitempty"`
	TransactionReferenceID string `json:"transactionReferenceId"`
}

// RefundableItem is §4.3's RefundableAddedSaleItem.
type RefundableItem struct {
	ID                 int    `json:"id"`
	Name               string `json:"name"`
	ItemQuantity       int    `json:"itemQuantity"`
	TotalPriceAmount   string `json:"totalPriceAmount"`
	VatAmount          string `json:"vatAmount,omitempty"`
	ReturnableQuantity int    `json:"returnableQuantity"`
	ReturnableAmount   string `json:"returnableAmount"`
}

// GmuRefundableSaleInfoResponse is §4.3's answer.
type GmuRefundableSaleInfoResponse struct {
	Envelope
	SaleNumber            string           `json:"saleNumber,omitempty"`
	SaleUID               string           `json:"saleUid,omitempty"`
	TotalReturnableAmount string           `json:"totalReturnableAmount,omitempty"`
	Currency              string           `json:"currency,omitempty"`
	SaleItems             []RefundableItem `json:"saleItems,omitempty"`
}

// GmuVoidRequest is §4.4.
type GmuVoidRequest struct {
	Locale                 string `json:"locale,omitempty"`
	ConversationID         string `json:"conversationId,omitempty"`
	DeviceUniqueID         string `json:"deviceUniqueId"`
	PaymentID              string `json:"paymentId"`
	PaymentDate            int    `json:"paymentDate"`
	TransactionReferenceID string `json:"transactionReferenceId"`
	Reason                 string `json:"reason,omitempty"`
	Description            string `json:"description,omitempty"`
}

// GmuVoidResponse is §4.4's answer.
type GmuVoidResponse struct {
	Envelope
	DeviceUniqueID         string `json:"deviceUniqueId,omitempty"`
	TransactionReferenceID string `json:"transactionReferenceId,omitempty"`
	PaymentID              string `json:"paymentId,omitempty"`
	Price                  string `json:"price,omitempty"`
	Currency               string `json:"currency,omitempty"`
	AuthCode               string `json:"authCode,omitempty"`
	HostReference          string `json:"hostReference,omitempty"`
	CancelHostReference    string `json:"cancelHostReference,omitempty"`
	PaymentDate            int    `json:"paymentDate,omitempty"`
	TransactionDateTime    string `json:"transactionDateTime,omitempty"`
	BinNumber              string `json:"binNumber,omitempty"`
	LastFourDigits         string `json:"lastFourDigits,omitempty"`
}

// GmuRefundRequest is §4.5: no currency and no total; the amount is the
// sum of the items' returnAmount.
type GmuRefundRequest struct {
	Locale                 string     `json:"locale,omitempty"`
	ConversationID         string     `json:"conversationId,omitempty"`
	DeviceUniqueID         string     `json:"deviceUniqueId"`
	PaymentID              string     `json:"paymentId"`
	PaymentDate            int        `json:"paymentDate"`
	TransactionReferenceID string     `json:"transactionReferenceId"`
	SaleAppName            string     `json:"saleAppName"`
	SaleAppVersion         string     `json:"saleAppVersion"`
	SaleItems              []SaleItem `json:"saleItems"`
}

// GmuRefundResponse is §4.5's answer.
type GmuRefundResponse struct {
	Envelope
	DeviceUniqueID         string `json:"deviceUniqueId,omitempty"`
	TransactionReferenceID string `json:"transactionReferenceId,omitempty"`
	Price                  string `json:"price,omitempty"`
	Currency               string `json:"currency,omitempty"`
	AuthCode               string `json:"authCode,omitempty"`
	HostReference          string `json:"hostReference,omitempty"`
	BinNumber              string `json:"binNumber,omitempty"`
	LastFourDigits         string `json:"lastFourDigits,omitempty"`
	BatchNo                string `json:"batchNo,omitempty"`
}

// GmuEodRequest is §4.7.
type GmuEodRequest struct {
	Locale         string `json:"locale,omitempty"`
	ConversationID string `json:"conversationId,omitempty"`
	DeviceUniqueID string `json:"deviceUniqueId"`
	UseSummary     bool   `json:"useSummary"`
}

// Tail is one acquirer's totals (§4.7 TailDto; VUK 509 "totals", §3.5).
type Tail struct {
	AcquirerID             string `json:"acquirerId,omitempty"`
	TerminalID             string `json:"terminalId,omitempty"`
	BankMerchantID         string `json:"bankMerchantId,omitempty"`
	TotalTransactionAmount string `json:"totalTransactionAmount"`
	TotalTransactionCount  string `json:"totalTransactionCount"`
	AcquirerName           string `json:"acquirerName,omitempty"`
	BatchNo                string `json:"batchNo,omitempty"`
	ResponseCode           string `json:"responseCode,omitempty"`
}

// GmuEodResponse is §4.7's answer.
type GmuEodResponse struct {
	Envelope
	BatchNo       string `json:"batchNo,omitempty"`
	ResultMessage string `json:"resultMessage,omitempty"`
	Tails         []Tail `json:"tails,omitempty"`
}

// VUK 509 (§3). Amounts are JSON numbers there; json.Number keeps them
// exact in both directions.

// PaymentRequest509 is CompletePaymentRequest (§3.1).
type PaymentRequest509 struct {
	ConversationID         string      `json:"conversationId"`
	Locale                 string      `json:"locale"`
	DeviceUniqueID         string      `json:"deviceUniqueId"`
	TransactionReferenceID string      `json:"transactionReferenceId"`
	Price                  json.Number `json:"price"`
	Currency               string      `json:"currency"`
	SalesType              string      `json:"salesType"` // the schema's spelling; §3.1 notes "saleType" in one example
	PaymentID              string      `json:"paymentId,omitempty"`
	Installment            int         `json:"installment"`
}

// QueryRequest509 is §3.2, combination 2: deviceUniqueId +
// transactionReferenceId (the schema marks paymentId required too, the
// page's warning says the combinations suffice).
type QueryRequest509 struct {
	ConversationID         string `json:"conversationId"`
	Locale                 string `json:"locale"`
	PaymentID              string `json:"paymentId,omitempty"`
	DeviceUniqueID         string `json:"deviceUniqueId"`
	TransactionReferenceID string `json:"transactionReferenceId"`
}

// RefundRequest509 is §3.3.
type RefundRequest509 struct {
	ConversationID         string      `json:"conversationId"`
	Locale                 string      `json:"locale"`
	PaymentID              string      `json:"paymentId"`
	DeviceUniqueID         string      `json:"deviceUniqueId"`
	Price                  json.Number `json:"price"`
	TransactionReferenceID string      `json:"transactionReferenceId"`
	PaymentDate            string      `json:"paymentDate"`
}

// VoidRequest509 is §3.4.
type VoidRequest509 struct {
	ConversationID         string `json:"conversationId"`
	Locale                 string `json:"locale"`
	PaymentID              string `json:"paymentId"`
	PaymentDate            string `json:"paymentDate"`
	DeviceUniqueID         string `json:"deviceUniqueId"`
	TransactionReferenceID string `json:"transactionReferenceId"`
}

// EodRequest509 is §3.5.
type EodRequest509 struct {
	ConversationID string `json:"conversationId"`
	Locale         string `json:"locale"`
	DeviceUniqueID string `json:"deviceUniqueId"`
	UseSummary     bool   `json:"useSummary"`
}

// PaymentResponse509 is TerminalPaymentSuccessResponse (§3.1), also the
// answer of query, refund and void; failures carry only the Envelope.
type PaymentResponse509 struct {
	Envelope
	DeviceUniqueID         string      `json:"deviceUniqueId,omitempty"`
	TransactionReferenceID string      `json:"transactionReferenceId,omitempty"`
	TransactionDateTime    string      `json:"transactionDateTime,omitempty"`
	AuthCode               string      `json:"authCode,omitempty"`
	PaymentID              string      `json:"paymentId,omitempty"`
	PaymentDate            string      `json:"paymentDate,omitempty"`
	Price                  json.Number `json:"price,omitempty"`
	Installment            int         `json:"installment,omitempty"`
	Currency               string      `json:"currency,omitempty"`
	BinNumber              string      `json:"binNumber,omitempty"`
	LastFourDigits         string      `json:"lastFourDigits,omitempty"`
	HostReference          string      `json:"hostReference,omitempty"`
	CardType               string      `json:"cardType,omitempty"`
	BatchNo                string      `json:"batchNo,omitempty"`
	CancelHostReference    string      `json:"cancelHostReference,omitempty"`
	RefundHostReference    string      `json:"refundHostReference,omitempty"`
}

// EodResponse509 is TerminalEodSuccessResponse (§3.5).
type EodResponse509 struct {
	Envelope
	BatchNo       string `json:"batchNo,omitempty"`
	ResultMessage string `json:"resultMessage,omitempty"`
	Totals        []Tail `json:"totals,omitempty"`
}
