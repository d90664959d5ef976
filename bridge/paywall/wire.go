package paywall

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Wire types of PhysicalAPI, field for field from
// ../shared/reference/paywall-physical-api.md (§ numbers refer to it).
// Tags are PascalCase as in most examples; encoding/json matches keys
// case-insensitively, so the camelCase answers of the cancel and rollback
// pages (§7, §8) decode into the same types (§0 "Casing").

// Envelope is the answer of every operation (§0). Result stays raw: it is
// an object for most calls and a bool for command-only ones (§4).
type Envelope struct {
	Result json.RawMessage `json:"Result"`
	// ErrorCode is absent from several documented examples (§0); nil then.
	ErrorCode     *int   `json:"ErrorCode"`
	Succeeded     bool   `json:"Succeeded"`
	Failed        bool   `json:"Failed"`
	Message       string `json:"Message"`
	ClientMessage string `json:"ClientMessage"`
}

// OK is the reference's success test: Succeeded and not Failed, and
// ErrorCode 0 when it is present (§15 adapter guidance).
func (e Envelope) OK() bool {
	return e.Succeeded && !e.Failed && (e.ErrorCode == nil || *e.ErrorCode == 0)
}

// Code is ErrorCode, or -1 when the answer carried none.
func (e Envelope) Code() int {
	if e.ErrorCode == nil {
		return -1
	}
	return *e.ErrorCode
}

// SaleRequest is the body of POST /api/payment/sync/sale (§5) and
// /api/payment/async/sale (§10.1, same fields minus
// SendNotificationDeviceDisconnected).
type SaleRequest struct {
	TerminalID                         string          `json:"TerminalId,omitempty"`
	TerminalTagCode                    string          `json:"TerminalTagCode,omitempty"`
	SendNotificationDeviceDisconnected *bool           `json:"SendNotificationDeviceDisconnected,omitempty"`
	MerchantUniqueCode                 string          `json:"MerchantUniqueCode"`
	DisplayCode                        string          `json:"DisplayCode,omitempty"`
	Amount                             json.Number     `json:"Amount"`
	CurrencyID                         int             `json:"CurrencyId"`
	Methods                            []Method        `json:"Methods,omitempty"`
	CallbackAddress                    string          `json:"CallbackAddress,omitempty"`
	SplitPaymentSupport                bool            `json:"SplitPaymentSupport"`
	Customer                           *Customer       `json:"Customer,omitempty"`
	Products                           []Product       `json:"Products"`
	SkipPrintCustomer                  bool            `json:"SkipPrintCustomer"`
	SkipPrintMerchant                  bool            `json:"SkipPrintMerchant"`
	SkipPaymentOptionScreen            bool            `json:"SkipPaymentOptionScreen"`
	ReceiptOptions                     *ReceiptOptions `json:"ReceiptOptions,omitempty"`
}

// Method is one allowed payment method (§5; ids undocumented, §14.4).
type Method struct {
	PaymentMethodID int `json:"PaymentMethodId"`
}

// Customer is the sale's Customer object (§5).
type Customer struct {
	Type          int    `json:"Type"`
	FirstName     string `json:"FirstName,omitempty"`
	MiddleName    string `json:"MiddleName,omitempty"`
	LastName      string `json:"LastName,omitempty"`
	CompanyName   string `json:"CompanyName,omitempty"`
	TaxOfficeCode string `json:"TaxOfficeCode,omitempty"`
	TaxNumber     string `json:"TaxNumber,omitempty"`
	Phone         string `json:"Phone,omitempty"`
	Email         string `json:"Email,omitempty"`
	Identity      string `json:"Identity,omitempty"`
	Country       string `json:"Country,omitempty"`
	City          string `json:"City,omitempty"`
	District      string `json:"District,omitempty"`
	Neighborhood  string `json:"Neighborhood,omitempty"`
	Address       string `json:"Address,omitempty"`
}

// Product is one line of Products (§5). Product.CurrencyId is listed in
// the table but absent from the example and is not sent; PaymentMethodId
// appears only in the example (split payments) and is not sent either.
type Product struct {
	Name       string      `json:"Name"`
	TaxGroupID int         `json:"TaxGroupId"`
	UnitCodeID int         `json:"UnitCodeId"`
	Amount     json.Number `json:"Amount"`
	Quantity   int         `json:"Quantity"`
}

// ReceiptOptions are the texts printed on the receipt (§5).
type ReceiptOptions struct {
	TopSupport    bool         `json:"TopSupport"`
	Top           *ReceiptText `json:"Top,omitempty"`
	BottomSupport bool         `json:"BottomSupport"`
	Bottom        *ReceiptText `json:"Bottom,omitempty"`
}

// ReceiptText is one receipt text (Text ≤ 150, FontSize ≤ 2 digits, §5).
type ReceiptText struct {
	Text     string `json:"Text"`
	FontSize int    `json:"FontSize"`
}

// PaymentRequestRef is the body of the cancel and rollback calls (§6, §7,
// §8, §10.2).
type PaymentRequestRef struct {
	PaymentRequestID string `json:"PaymentRequestId"`
}

// CommandResult is Result of sale, cancel and the rollbacks (§5, §7).
type CommandResult struct {
	PaymentRequestID             string `json:"PaymentRequestId"`
	PaymentRequestActivityID     string `json:"PaymentRequestActivityId"`
	PaymentRequestActivityTypeID int    `json:"PaymentRequestActivityTypeId"`
	PaymentStatus                int    `json:"PaymentStatus"`
}

// Inquiry is Result of GET /api/payment/inquiry/{id} (§11.1, A.2).
type Inquiry struct {
	PaymentRequestID         string      `json:"PaymentRequestId"`
	PaymentRequestActivityID string      `json:"PaymentRequestActivityId"`
	TerminalID               string      `json:"TerminalId"`
	MerchantUniqueCode       string      `json:"MerchantUniqueCode"`
	DisplayCode              string      `json:"DisplayCode"`
	CallbackAddress          string      `json:"CallbackAddress"`
	Amount                   json.Number `json:"Amount"`
	PaymentChannelID         int         `json:"PaymentChannelId"`
	PaymentChannel           string      `json:"PaymentChannel"`
	CurrencyID               int         `json:"CurrencyId"`
	Currency                 string      `json:"Currency"`
	IP                       string      `json:"IP"`
	PaymentTypeID            int         `json:"PaymentTypeId"`
	PaymentType              string      `json:"PaymentType"`
	PaymentStatusID          int         `json:"PaymentStatusId"`
	PaymentStatus            string      `json:"PaymentStatus"`
	CreatedDate              string      `json:"CreatedDate"`
	ModifiedDate             *string     `json:"ModifiedDate"`
}

// PageRequest is the body of the paged lists (§1, §11).
type PageRequest struct {
	PageIndex        int    `json:"pageIndex"`
	PageSize         int    `json:"pageSize"`
	StartDate        string `json:"startDate,omitempty"` // yyyy-MM-dd, payment list only
	EndDate          string `json:"endDate,omitempty"`
	PaymentRequestID string `json:"PaymentRequestId,omitempty"` // activities, products
}

// Pagination closes every paged Result (§1).
type Pagination struct {
	CurrentPage int `json:"CurrentPage"`
	PageCount   int `json:"PageCount"`
	PageSize    int `json:"PageSize"`
	TotalCount  int `json:"TotalCount"`
}

// Page is a paged Result.
type Page[T any] struct {
	Items      []T        `json:"Items"`
	Pagination Pagination `json:"Pagination"`
}

// PaymentItem is one item of POST /api/payment/list (§11.2).
type PaymentItem struct {
	ID                       string      `json:"Id"` // the PaymentRequestId
	TerminalID               string      `json:"TerminalId"`
	ConnectionID             string      `json:"ConnectionId"`
	ConnectionName           string      `json:"ConnectionName"`
	ProviderID               int         `json:"ProviderId"`
	ProviderName             string      `json:"ProviderName"`
	BrandID                  int         `json:"BrandId"`
	BrandName                string      `json:"BrandName"`
	RegionID                 int         `json:"RegionId"`
	RegionName               string      `json:"RegionName"`
	MerchantUniqueCode       string      `json:"MerchantUniqueCode"`
	DisplayCode              string      `json:"DisplayCode"`
	Amount                   json.Number `json:"Amount"`
	PaymentChannelID         int         `json:"PaymentChannelId"`
	PaymentChannelName       string      `json:"PaymentChannelName"`
	CurrencyID               int         `json:"CurrencyId"`
	CurrencyName             string      `json:"CurrencyName"`
	IP                       string      `json:"IP"`
	PaymentRequestActivityID string      `json:"PaymentRequestActivityId"`
	PaymentTypeID            int         `json:"PaymentTypeId"`
	PaymentTypeName          string      `json:"PaymentTypeName"`
	PaymentStatusID          int         `json:"PaymentStatusId"`
	PaymentStatusName        string      `json:"PaymentStatusName"`
	Date                     string      `json:"Date"`
}

// Activity is one item of POST /api/payment/activities (§11.3).
type Activity struct {
	ID                string `json:"Id"`
	PaymentTypeID     int    `json:"PaymentTypeId"`
	PaymentTypeName   string `json:"PaymentTypeName"`
	PaymentStatusID   int    `json:"PaymentStatusId"`
	PaymentStatusName string `json:"PaymentStatusName"`
	Date              string `json:"Date"`
}

// PaymentProduct is one item of POST /api/payment/products (§11.4). The
// item fields are not documented; these are the sale's Product fields.
type PaymentProduct struct {
	Name       string      `json:"Name"`
	TaxGroupID int         `json:"TaxGroupId"`
	UnitCodeID int         `json:"UnitCodeId"`
	Amount     json.Number `json:"Amount"`
	Quantity   int         `json:"Quantity"`
}

// TerminalItem is one item of POST /api/terminal/list (§1).
type TerminalItem struct {
	ID                string  `json:"Id"`
	ConnectionID      string  `json:"ConnectionId"`
	BrandID           int     `json:"BrandId"`
	ProviderID        int     `json:"ProviderId"`
	RegionID          int     `json:"RegionId"`
	ConnectionName    string  `json:"ConnectionName"`
	SourceID          *string `json:"SourceId"`
	TerminalID        string  `json:"TerminalId"`
	SerialNo          string  `json:"SerialNo"`
	SourceCreatedDate *string `json:"SourceCreatedDate"`
	SourceUpdateDate  *string `json:"SourceUpdateDate"`
	MerchantID        string  `json:"MerchantId"`
}

// ConnectivityRequest is the body of POST /api/terminal/connectivity/check (§3.2).
type ConnectivityRequest struct {
	TerminalID      string `json:"TerminalId"`
	TerminalTagCode string `json:"TerminalTagCode"`
}

// Connectivity is its Result.
type Connectivity struct {
	IsSocketConnected bool `json:"IsSocketConnected"`
}

// Payment types (§14.1, documented).
const (
	TypeSale   = 1
	TypeCancel = 2
	TypeRefund = 3
)

// ErrorCodes the adapter branches on: the platform enum of the vendor's
// .NET SDK (A.4), and code 4 of the Payment API table (§15), where it
// means "MerchantUniqueCode already exists".
const (
	CodePaymentNotFound      = 56
	CodeActivityNotFound     = 57
	CodeNotConvenient        = 92
	CodeAlreadyFinalized     = 97
	CodeMUCAlreadyExist      = 119
	CodeCannotDoInThisTime   = 269
	CodePaymentAPIMUCExists  = 4
	ClientMUCAlreadyExist    = "MerchantUniqueCodeAlreadyExist"
	ClientPaymentNotFound    = "PaymentNotFound"
	ClientCannotDoInThisTime = "ThisOperationCannotDoInThisTime"
)

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s has the Guid shape the docs type ids with.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }

// DecodeEnvelope reads an answer. It fails on anything that is not one
// JSON object, so a proxy's HTML page is never taken for an answer.
func DecodeEnvelope(raw []byte) (Envelope, error) {
	var env Envelope
	s := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(s, "{") {
		return Envelope{}, fmt.Errorf("paywall: answer is not a JSON object")
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return Envelope{}, fmt.Errorf("paywall: answer: %w", err)
	}
	return env, nil
}
