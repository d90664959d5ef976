package vomsis

import "context"

// CheckCredentials fetches a token with the app key and secret
// (vomsis-vpos-api.md, token), for `tezgah doctor`. No money moves.
func (c *Client) CheckCredentials(ctx context.Context) error {
	_, err := c.loginToken(ctx)
	return err
}
