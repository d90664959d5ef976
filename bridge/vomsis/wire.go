package vomsis

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Wire types of the Vomsis Sanal POS API V3, field for field as in the
// Postman collection (../shared/reference/seeds/001_6514f95156c7949a.txt,
// "PM26" in the reference). The simulator uses the same types.

// TokenResponse is POST /auth/token's answer (PORTAL: success,
// access_token; no lifetime is documented).
type TokenResponse struct {
	Success     bool   `json:"success"`
	AccessToken string `json:"access_token"`
	Message     string `json:"message,omitempty"`
}

// Decimal is an amount sent as a JSON number ("payment_price":1.90),
// written from its exact decimal text, never through a float.
type Decimal string

// MarshalJSON writes the decimal text unquoted.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("0"), nil
	}
	return []byte(d), nil
}

// UnmarshalJSON reads a number or a string.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	*d = Decimal(s)
	return nil
}

// FlexString reads a JSON string, number, bool or null as text: the
// reference shows the same field as "3" in one place and 3 in another
// (PORTAL vs PM26), so decoding is defensive.
type FlexString string

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*f = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
	case string(b) == "true" || string(b) == "false":
		*f = FlexString(b)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*f = FlexString(n)
	}
	return nil
}

// FlexInt reads a JSON number or a numeric string; anything else is 0.
type FlexInt int

// UnmarshalJSON implements json.Unmarshaler.
func (f *FlexInt) UnmarshalJSON(b []byte) error {
	var s FlexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	n, err := strconv.Atoi(string(s))
	if err != nil {
		*f = 0
		return nil
	}
	*f = FlexInt(n)
	return nil
}

// BinCheckRequest is POST /bin-check (§2).
type BinCheckRequest struct {
	CCNumber     string  `json:"cc_number"`
	FecName      string  `json:"fec_name"`
	PaymentPrice Decimal `json:"payment_price"`
	PID          int     `json:"pid,omitempty"`
}

// CardInfo is bin-check's card_info.
type CardInfo struct {
	BinCheckCompany FlexInt    `json:"bin_check_company"`
	BankName        FlexString `json:"bank_name"`
	CardType        FlexString `json:"card_type"`
	CardAssociation FlexString `json:"card_association"`
	CardFamilyName  FlexString `json:"card_family_name"`
}

// Installment is one installment option (bin-check and installments).
type Installment struct {
	PosID       FlexInt    `json:"pos_id"`
	BlockRate   FlexString `json:"block_rate"`
	Currency    FlexString `json:"currency"`
	Installment FlexInt    `json:"installment"`
	Title       FlexString `json:"title,omitempty"`
}

// BinCheckResponse is bin-check's answer.
type BinCheckResponse struct {
	Data struct {
		CardInfo     CardInfo      `json:"card_info"`
		Installments []Installment `json:"installments"`
	} `json:"data"`
}

// PaymentRequest is POST /payment (§4). Amount is a string as in the
// example ("3.55").
type PaymentRequest struct {
	ReferanceNo           string `json:"referanceNo"`
	CreditCardHolderName  string `json:"creditCardHolderName"`
	CreditCardPan         string `json:"creditCardPan"`
	CreditCardExpiryMonth string `json:"creditCardExpiryMonth"`
	CreditCardExpiryYear  string `json:"creditCardExpiryYear"`
	CreditCardCvc         string `json:"creditCardCvc"`
	PID                   int    `json:"pid,omitempty"`
	Installment           int    `json:"installment"`
	Amount                string `json:"amount"`
	Currency              string `json:"currency"`
	InvoiceType           string `json:"invoiceType,omitempty"`
	UserCompanyTitle      string `json:"userCompanyTitle,omitempty"`
	UserName              string `json:"userName,omitempty"`
	UserEmail             string `json:"userEmail,omitempty"`
	UserPhone             string `json:"userPhone,omitempty"`
	UserTaxOffice         string `json:"userTaxOffice,omitempty"`
	UserTaxNo             string `json:"userTaxNo,omitempty"`
	UserAddress           string `json:"userAddress,omitempty"`
	ClientIP              string `json:"clientIp"`
	ReturnURL             string `json:"returnUrl"`
	Lang                  string `json:"lang,omitempty"`
	PaymentNote           string `json:"paymentNote,omitempty"`
}

// PaymentResponse is /payment's answer: status says whether the request
// was taken, data is the 3-D Secure HTML for the payer's browser.
type PaymentResponse struct {
	Status  bool       `json:"status"`
	PosType FlexString `json:"pos_type"`
	Data    string     `json:"data"`
	Message FlexString `json:"message,omitempty"` // [inferred] on status false
}

// TransactionRequest is POST /transaction (§5): cancel or refund.
type TransactionRequest struct {
	TransactionType string  `json:"transactionType"` // cancel | refund
	ReferanceNo     string  `json:"referanceNo"`
	Amount          Decimal `json:"amount"`
}

// TransactionResponse is /transaction's answer.
type TransactionResponse struct {
	IslemID        FlexString `json:"islem_id"`
	Type           FlexString `json:"type"` // iptal | iade
	TransID        FlexString `json:"trans_id"`
	Response       FlexString `json:"response"` // Approved | Declined | Error
	ProcReturnCode FlexString `json:"proc_return_code"`
	IadeTutar      FlexString `json:"iade_tutar"`
	ErrorCode      FlexString `json:"error_code"`
	ErrorMessage   FlexString `json:"error_message"`
	Status         FlexString `json:"status"` // approved | declined
	StatusDetail   FlexString `json:"status_detail"`
}

// FindRequest is GET /transaction/find's JSON body (§6: a body on a GET).
type FindRequest struct {
	ReferanceNo string `json:"referanceNo"`
}

// FindResponse is /transaction/find's answer.
type FindResponse struct {
	Success bool       `json:"success"`
	Data    *FindData  `json:"data"`
	Message FlexString `json:"message,omitempty"`
}

// FindData is one transaction's detail.
type FindData struct {
	ReferanceNo      FlexString `json:"referanceNo"`
	TransactionDate  FlexString `json:"transactionDate"` // "2024-02-23 18:26:57"
	PosName          FlexString `json:"posName"`
	ErrorCode        FlexString `json:"errorCode"`
	ErrorMessage     FlexString `json:"errorMessage"`
	MaskedPan        FlexString `json:"maskedPan"`
	CreditCardBank   FlexString `json:"creditCardBank"`
	ClientIP         FlexString `json:"clientIp"`
	Amount           FlexString `json:"amount"`
	PaidAmount       FlexString `json:"paidAmount"`
	Installment      FlexInt    `json:"installment"`
	InstallmentRatio FlexString `json:"installmentRatio"`
	Description      FlexString `json:"description"`
	Status           FlexString `json:"status"` // Başarılı | Başarısız | İptal | İade
}

// Transaction statuses of /transaction/find, exact display strings (§6).
const (
	StatusSuccessful = "Başarılı"
	StatusFailed     = "Başarısız"
	StatusCancelled  = "İptal"
	StatusRefunded   = "İade"
)

// ListResponse is /transactions-list and /customers: rows are passed to
// the register as they come.
type ListResponse struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
}

// CustomerStoreRequest is POST /customers/store (§8).
type CustomerStoreRequest struct {
	Email              string              `json:"email"`
	Password           string              `json:"password,omitempty"`
	CompanyTitle       string              `json:"companyTitle,omitempty"`
	GSM                string              `json:"gsm,omitempty"`
	InvoiceInformation *InvoiceInformation `json:"invoiceInformation,omitempty"`
}

// InvoiceInformation is a customer's invoice address.
type InvoiceInformation struct {
	InvoiceInfoName string  `json:"invoiceInfoName,omitempty"`
	InvoiceType     string  `json:"invoiceType,omitempty"`
	NameSurname     string  `json:"nameSurname,omitempty"`
	TaxNumber       string  `json:"taxNumber,omitempty"`
	InvoiceEmail    string  `json:"invoiceEmail,omitempty"`
	Phone           string  `json:"phone,omitempty"`
	Address         string  `json:"address,omitempty"`
	CompanyTitle    *string `json:"companyTitle"`
	TaxOffice       *string `json:"taxOffice"`
}

// CustomerUpdateRequest is PUT /customers/{id} (§8).
type CustomerUpdateRequest struct {
	Email        string `json:"email,omitempty"`
	Password     string `json:"password,omitempty"`
	CompanyTitle string `json:"companyTitle,omitempty"`
	Phone        string `json:"phone,omitempty"`
}

// PostBack is what arrives at returnUrl after the 3-D page (§4): unsigned
// and carried by the payer's browser, so only a hint.
type PostBack struct {
	TransID      string `json:"trans_id"`
	OrderID      string `json:"order_id"`
	ReferansKodu string `json:"referans_kodu"`
	StatusCode   string `json:"status_code"`
	ErrorCode    string `json:"error_code"`
	HataMesaji   string `json:"hata_mesaji"`
}
