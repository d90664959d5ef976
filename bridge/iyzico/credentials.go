package iyzico

import "context"

// CheckCredentials logs in (iyzico-terminal-api.md §2.1, §2.2) and reports
// whether a token could be fetched, for `tezgah doctor`. It makes no
// business call: no money moves.
func (c *Client) CheckCredentials(ctx context.Context) error {
	_, err := c.token(ctx)
	return err
}
