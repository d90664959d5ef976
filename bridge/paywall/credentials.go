package paywall

import (
	"context"
	"net/http"
)

// CheckCredentials reads the first page of the terminal list with the
// configured keys (paywall-physical-api.md, terminal list), for
// `tezgah doctor`: PhysicalAPI has no login call, and a list moves no
// money. Wrong keys come back as the provider's error.
func (c *Client) CheckCredentials(ctx context.Context) error {
	var out Page[TerminalItem]
	return c.do(ctx, http.MethodPost, "/api/terminal/list", PageRequest{PageIndex: 0, PageSize: 1}, &out)
}
