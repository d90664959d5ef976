package bridge

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDoClassifiesByWhetherTheRequestLeft(t *testing.T) {
	// Nothing listens: the request never left the machine.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	// The provider takes the request and never answers.
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	hc := &http.Client{Timeout: 200 * time.Millisecond}
	for _, tc := range []struct {
		name, url, code string
		kind            Kind
	}{
		{"refused", closed, "connect_failed", NotSent},
		{"no answer", hang.URL, "timeout", Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tc.url+"/pay?secret=x", nil)
			_, err := Do(hc, req, "test")
			var e *Error
			if !errors.As(err, &e) || e.Kind != tc.kind || e.Code != tc.code {
				t.Fatalf("Do = %v, want %v %s", err, tc.kind, tc.code)
			}
			if s := err.Error(); strings.Contains(s, "secret") {
				t.Fatalf("error repeats the URL: %s", s)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		"-1":                            0,
		"Tue, 24 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"soon":                          0,
	} {
		if got := RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}
