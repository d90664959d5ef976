package simfault

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type faults struct {
	FailRate float64 `json:"fail_rate"`
}

func TestServe(t *testing.T) {
	var mu sync.Mutex
	cur := faults{FailRate: 0.5}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Serve(w, r,
			func() faults { mu.Lock(); defer mu.Unlock(); return cur },
			func(f faults) { mu.Lock(); defer mu.Unlock(); cur = f })
	}))
	t.Cleanup(srv.Close)

	for _, tc := range []struct {
		name, method, body string
		status             int
		answer             string
		after              float64
	}{
		{"get", http.MethodGet, "", http.StatusOK, `{"fail_rate":0.5}`, 0.5},
		{"put", http.MethodPut, `{"fail_rate":0.25}`, http.StatusOK, `{"fail_rate":0.25}`, 0.25},
		{"post", http.MethodPost, `{"fail_rate":0.1}`, http.StatusOK, `{"fail_rate":0.1}`, 0.1},
		{"bad json keeps faults", http.MethodPut, `{"fail_rate":`, http.StatusBadRequest, "", 0.1},
		{"other method", http.MethodDelete, "", http.StatusMethodNotAllowed, "", 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, b)
			}
			if tc.answer != "" && strings.TrimSpace(string(b)) != tc.answer {
				t.Errorf("answer %s, want %s", b, tc.answer)
			}
			mu.Lock()
			got := cur.FailRate
			mu.Unlock()
			if got != tc.after {
				t.Errorf("faults now %v, want %v", got, tc.after)
			}
		})
	}
}
