package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/tezgah/tezgah/bridge"
	"github.com/tezgah/tezgah/money"
)

// MaxItems bounds a sale's lines: a fiscal receipt longer than this is a
// register bug, and the frame limit would refuse it anyway.
const MaxItems = 500

var (
	quantityPattern = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,3})?$`)
	unitPattern     = regexp.MustCompile(`^[A-Z0-9]{1,3}$`)
	digitsPattern   = regexp.MustCompile(`^[0-9]+$`)
)

// object decodes raw as one JSON object, refusing fields not in allowed,
// and names the offending field as prefix.field.
func object(raw json.RawMessage, prefix string, allowed []string) (map[string]json.RawMessage, *Error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, Errorf(CodeInvalidField, prefix, "%s must be a JSON object", prefix)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same field for the same input
	for _, k := range keys {
		if !contains(allowed, k) {
			return nil, Errorf(CodeUnknownField, prefix+"."+k, "%s does not take %q (allowed: %s)", prefix, k, strings.Join(allowed, ", "))
		}
	}
	return m, nil
}

// text reads an optional string field of at most max characters.
func text(m map[string]json.RawMessage, prefix, key string, max int) (string, *Error) {
	raw, ok := m[key]
	if !ok || string(raw) == "null" {
		return "", nil
	}
	field := prefix + "." + key
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", Errorf(CodeInvalidField, field, "%s must be a JSON string", field)
	}
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\r\n\t") {
		return "", Errorf(CodeInvalidField, field, "%s must be one line of UTF-8 text", field)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return "", Errorf(CodeInvalidField, field, "%s is %d characters; at most %d", field, n, max)
	}
	return s, nil
}

var itemFields = []string{"name", "quantity", "unit_price", "amount", "vat_rate", "unit", "code"}

// decodeItems reads a sale's lines. Their amounts must add up to the
// sale's amount exactly: a fiscal receipt whose lines disagree with the
// total is refused by the providers, and better here, before it is stored.
func decodeItems(raw json.RawMessage, total money.Amount) ([]bridge.Item, *Error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, Errorf(CodeInvalidField, "items", "items must be a JSON array of objects")
	}
	if len(list) == 0 || len(list) > MaxItems {
		return nil, Errorf(CodeInvalidField, "items", "items must have 1 to %d lines", MaxItems)
	}
	out := make([]bridge.Item, 0, len(list))
	var sum int64
	for i, r := range list {
		p := fmt.Sprintf("items[%d]", i)
		m, perr := object(r, p, itemFields)
		if perr != nil {
			return nil, perr
		}
		var it bridge.Item
		if it.Name, perr = text(m, p, "name", 100); perr != nil {
			return nil, perr
		}
		if it.Name == "" {
			return nil, Errorf(CodeMissingField, p+".name", "%s.name is required: the product as printed on the receipt", p)
		}
		var q string
		if raw := m["quantity"]; len(raw) > 0 && raw[0] >= '0' && raw[0] <= '9' {
			q = string(raw) // a JSON number, read exactly from its text like amounts
		} else if q, perr = text(m, p, "quantity", 13); perr != nil {
			return nil, perr
		}
		if q == "" {
			q = "1"
		}
		if !quantityPattern.MatchString(q) || strings.Trim(q, "0.") == "" {
			return nil, Errorf(CodeInvalidField, p+".quantity", `%s.quantity must be a decimal string greater than zero with at most 3 decimals, e.g. "2" or "0.250"`, p)
		}
		it.Quantity = q
		a, perr := parseAmount(m["amount"], total.Currency, p+".amount")
		if perr != nil {
			return nil, perr
		}
		it.Amount = a.String()
		sum += a.Minor
		if raw, ok := m["unit_price"]; ok && string(raw) != "null" {
			up, perr := parseAmount(raw, total.Currency, p+".unit_price")
			if perr != nil {
				return nil, perr
			}
			it.UnitPrice = up.String()
		}
		vr, ok := m["vat_rate"]
		if !ok || string(vr) == "null" {
			return nil, Errorf(CodeMissingField, p+".vat_rate", "%s.vat_rate is required: the VAT in whole percent (0, 1, 10 or 20)", p)
		}
		if err := json.NewDecoder(bytes.NewReader(vr)).Decode(&it.VATRate); err != nil || it.VATRate < 0 || it.VATRate > 100 {
			return nil, Errorf(CodeInvalidField, p+".vat_rate", "%s.vat_rate must be a whole number of percent from 0 to 100", p)
		}
		if it.Unit, perr = text(m, p, "unit", 3); perr != nil {
			return nil, perr
		}
		if it.Unit != "" && !unitPattern.MatchString(it.Unit) {
			return nil, Errorf(CodeInvalidField, p+".unit", `%s.unit must be a UN/ECE unit code such as "C62" (piece) or "KGM" (kilogram)`, p)
		}
		if it.Code, perr = text(m, p, "code", 64); perr != nil {
			return nil, perr
		}
		out = append(out, it)
	}
	if sum != total.Minor {
		return nil, Errorf(CodeInvalidField, "items", "the items add up to %s but the amount is %s; they must be equal",
			money.Amount{Minor: sum, Currency: total.Currency}, total)
	}
	return out, nil
}

var customerFields = []string{"type", "first_name", "middle_name", "last_name", "identity_number", "company_name",
	"tax_office", "tax_number", "email", "phone", "address", "city", "country"}

func decodeCustomer(raw json.RawMessage) (*bridge.Customer, *Error) {
	const p = "customer"
	m, perr := object(raw, p, customerFields)
	if perr != nil {
		return nil, perr
	}
	var c bridge.Customer
	for _, f := range []struct {
		key string
		dst *string
		max int
	}{
		{"type", &c.Type, 20}, {"first_name", &c.FirstName, 50}, {"middle_name", &c.MiddleName, 50},
		{"last_name", &c.LastName, 50}, {"identity_number", &c.IdentityNumber, 11},
		{"company_name", &c.CompanyName, 150}, {"tax_office", &c.TaxOffice, 100}, {"tax_number", &c.TaxNumber, 10},
		{"email", &c.Email, 100}, {"phone", &c.Phone, 20}, {"address", &c.Address, 250},
		{"city", &c.City, 50}, {"country", &c.Country, 50},
	} {
		v, perr := text(m, p, f.key, f.max)
		if perr != nil {
			return nil, perr
		}
		*f.dst = v
	}
	switch c.Type {
	case bridge.Individual:
		if c.FirstName == "" || c.LastName == "" {
			return nil, Errorf(CodeMissingField, "customer.last_name", "an individual customer needs first_name and last_name")
		}
	case bridge.Corporate:
		if c.CompanyName == "" {
			return nil, Errorf(CodeMissingField, "customer.company_name", "a corporate customer needs company_name")
		}
	case "":
		return nil, Errorf(CodeMissingField, "customer.type", `customer.type is required: "individual" or "corporate"`)
	default:
		return nil, Errorf(CodeInvalidField, "customer.type", `customer.type %q is not "individual" or "corporate"`, c.Type)
	}
	if c.IdentityNumber != "" && (len(c.IdentityNumber) != 11 || !digitsPattern.MatchString(c.IdentityNumber)) {
		return nil, Errorf(CodeInvalidField, "customer.identity_number", "customer.identity_number must be 11 digits (TCKN)")
	}
	if c.TaxNumber != "" && (len(c.TaxNumber) != 10 || !digitsPattern.MatchString(c.TaxNumber)) {
		return nil, Errorf(CodeInvalidField, "customer.tax_number", "customer.tax_number must be 10 digits (VKN)")
	}
	if c.Email != "" && !strings.Contains(c.Email, "@") {
		return nil, Errorf(CodeInvalidField, "customer.email", "customer.email is not an e-mail address")
	}
	return &c, nil
}
