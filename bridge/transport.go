package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// Do sends req with hc and classifies a transport failure by the question
// that keeps money safe: had the request been written when it failed?
// Before (DNS, connect refused): NotSent, "connect_failed". After (a
// timeout, a dropped connection): Unknown, "timeout" or
// "connection_lost" — the provider may have acted. name prefixes the
// error ("iyzico: /v2/..."); the error carries neither the URL nor the
// body, which may hold secrets or card data.
func Do(hc *http.Client, req *http.Request, name string) (*http.Response, error) {
	// WroteRequest also fires when writing failed part-way; some bytes may
	// have reached the provider then, so that counts as written.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) }}
	resp, err := hc.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err == nil {
		return resp, nil
	}
	if !wrote.Load() {
		return nil, &Error{Kind: NotSent, Code: "connect_failed", Err: fmt.Errorf("%s: %w", name, Scrub(err))}
	}
	code := "connection_lost"
	var t interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &t) && t.Timeout() {
		code = "timeout"
	}
	return nil, &Error{Kind: Unknown, Code: code, Err: fmt.Errorf("%s: %w", name, Scrub(err))}
}

// Scrub drops the *url.Error wrapper, whose text repeats the URL.
func Scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// RetryAfter reads a Retry-After header value: seconds or an HTTP date.
func RetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
