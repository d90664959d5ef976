package deploy_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tezgah/tezgah/internal/syncbuf"

	"github.com/gorilla/websocket"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
	"github.com/tezgah/tezgah/internal/agenttest"
	"github.com/tezgah/tezgah/internal/testwait"
)

// The supported way off a shop PC, for real: the demo agent, Prometheus
// in agent mode with deploy/prometheus/shop-agent.yml (only its
// addresses, intervals and password file rewritten), and a central store
// that takes remote write — here a small receiver of the wire format
// (snappy-compressed protobuf WriteRequest), standing in for the chain's
// Prometheus, Mimir, Thanos or VictoriaMetrics.
func TestShopAgentShipsLabelledSeries(t *testing.T) {
	prom := tool(t, "prometheus")
	cfg := config.Demo()
	wsURL := agenttest.Run(t, cfg, agent.Options{Version: "test", Demo: true})
	hostPort := strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws://"), "/v1/ws")
	sale(t, websocket.DefaultDialer, wsURL, "RW-1")

	dir := t.TempDir()
	pwFile := filepath.Join(dir, "remote-write.password")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recv := &receiver{user: "shops", password: "s3cret"}
	central := httptest.NewServer(recv)
	t.Cleanup(central.Close)

	example, err := os.ReadFile("prometheus/shop-agent.yml")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(example)
	for old, repl := range map[string]string{
		`"127.0.0.1:8417"`: `"` + hostPort + `"`,
		"https://metrics.example-chain.com.tr/api/v1/write": central.URL + "/api/v1/write",
		"/etc/prometheus/remote-write.password":             pwFile,
		// A test cannot wait a production interval for the first scrape.
		"scrape_interval: 30s":     "scrape_interval: 1s",
		"scrape_timeout: 10s":      "scrape_timeout: 1s",
		"batch_send_deadline: 15s": "batch_send_deadline: 1s",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("shop-agent.yml no longer contains %q; update this test", old)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	confFile := filepath.Join(dir, "shop-agent.yml")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	var out syncbuf.Buffer
	cmd := exec.Command(prom, "--enable-feature=agent", "--config.file="+confFile,
		"--storage.agent.path="+filepath.Join(dir, "wal"), "--web.listen-address=127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	// The sale's result counter and the scrape's up, both labelled.
	want := []string{
		`tezgah_results_total{agent="demo-pc",instance="` + hostPort + `",job="tezgah",provider="iyzico",shop="demo",status="approved",terminal="kasa-1"}`,
		`up{agent="demo-pc",instance="` + hostPort + `",job="tezgah",shop="demo"}`,
	}
	testwait.For(t, "the shop's series at the central store", 90*time.Second, func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, out.String())
		default:
		}
		return recv.has(want...)
	}, func() string {
		return fmt.Sprintf("received %d series, e.g. %v; refused %d requests\nprometheus:\n%s",
			recv.count(), recv.sample(5), recv.refusedCount(), out.String())
	})
	if unlabelled := recv.without("agent", "shop"); len(unlabelled) > 0 {
		t.Errorf("%d series arrived without agent and shop labels, e.g. %v", len(unlabelled), unlabelled[:min(5, len(unlabelled))])
	}
	if recv.refusedCount() > 0 {
		t.Errorf("%d remote-write requests refused (credentials or format)", recv.refusedCount())
	}
}

// sale makes one approved sale on the demo agent through d, so labelled
// series exist.
func sale(t *testing.T, d *websocket.Dialer, wsURL, id string) {
	t.Helper()
	c, _, err := d.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteJSON(map[string]string{"type": "sale", "id": id, "terminal": "kasa-1", "amount": "10.00"}); err != nil {
		t.Fatal(err)
	}
	for {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		var ev struct{ Type, ID, Status string }
		if err := c.ReadJSON(&ev); err != nil {
			t.Fatalf("waiting for the sale's result: %v", err)
		}
		if ev.Type == "error" {
			t.Fatalf("sale refused: %+v", ev)
		}
		if ev.Type == "result" && ev.ID == id {
			if ev.Status != "approved" {
				t.Fatalf("sale: %+v", ev)
			}
			return
		}
	}
}

// receiver is a Prometheus remote-write (1.0) endpoint that keeps the
// label sets it was sent.
type receiver struct {
	user, password string

	mu      sync.Mutex // guards series, refused
	series  map[string]map[string]string
	refused int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	u, p, ok := req.BasicAuth()
	body, err := io.ReadAll(req.Body)
	var sets []map[string]string
	if err == nil {
		var raw []byte
		if raw, err = snappyDecode(body); err == nil {
			sets, err = parseWriteRequest(raw)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case req.Method != http.MethodPost || req.URL.Path != "/api/v1/write":
		r.refused++
		http.NotFound(w, req)
		return
	case !ok || u != r.user || p != r.password:
		r.refused++
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	case err != nil:
		r.refused++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.series == nil {
		r.series = map[string]map[string]string{}
	}
	for _, ls := range sets {
		r.series[seriesKey(ls)] = ls
	}
	w.WriteHeader(http.StatusNoContent)
}

func seriesKey(ls map[string]string) string {
	var names []string
	for k := range ls {
		if k != "__name__" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(ls["__name__"] + "{")
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", k, ls[k])
	}
	b.WriteByte('}')
	return b.String()
}

func (r *receiver) has(keys ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if _, ok := r.series[k]; !ok {
			return false
		}
	}
	return true
}

func (r *receiver) without(labels ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, ls := range r.series {
		for _, l := range labels {
			if ls[l] == "" {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.series)
}

func (r *receiver) refusedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused
}

func (r *receiver) sample(n int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.series {
		if strings.HasPrefix(k, "tezgah_") || strings.HasPrefix(k, "up{") {
			out = append(out, k)
		}
		if len(out) == n {
			break
		}
	}
	return out
}

// parseWriteRequest reads the label sets of a remote-write 1.0
// WriteRequest: timeseries = 1 (repeated TimeSeries), whose labels = 1
// (repeated Label{name = 1, value = 2}). Samples and metadata are
// skipped.
func parseWriteRequest(b []byte) ([]map[string]string, error) {
	var out []map[string]string
	err := fields(b, func(num int, v []byte) error {
		if num != 1 {
			return nil
		}
		ls := map[string]string{}
		err := fields(v, func(num int, v []byte) error {
			if num != 1 {
				return nil
			}
			var name, value string
			err := fields(v, func(num int, v []byte) error {
				switch num {
				case 1:
					name = string(v)
				case 2:
					value = string(v)
				}
				return nil
			})
			ls[name] = value
			return err
		})
		out = append(out, ls)
		return err
	})
	return out, err
}

// fields calls fn with each length-delimited field of a protobuf
// message, skipping the other wire types.
func fields(b []byte, fn func(num int, v []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errors.New("protobuf: bad key")
		}
		b = b[n:]
		switch key & 7 {
		case 0:
			if _, n = binary.Uvarint(b); n <= 0 {
				return errors.New("protobuf: bad varint")
			}
			b = b[n:]
		case 1:
			if len(b) < 8 {
				return errors.New("protobuf: short fixed64")
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return errors.New("protobuf: short fixed32")
			}
			b = b[4:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return errors.New("protobuf: bad length")
			}
			if err := fn(int(key>>3), b[n:n+int(l)]); err != nil {
				return err
			}
			b = b[n+int(l):]
		default:
			return fmt.Errorf("protobuf: wire type %d", key&7)
		}
	}
	return nil
}

// snappyDecode decodes snappy's block format, which remote write uses
// (https://github.com/google/snappy/blob/main/format_description.txt).
func snappyDecode(src []byte) ([]byte, error) {
	n, k := binary.Uvarint(src)
	if k <= 0 || n > 64<<20 {
		return nil, errors.New("snappy: bad length")
	}
	src = src[k:]
	dst := make([]byte, 0, n)
	for len(src) > 0 {
		tag := src[0]
		var length, offset int
		switch tag & 3 {
		case 0: // literal
			length = int(tag >> 2)
			src = src[1:]
			if length >= 60 {
				extra := length - 59
				if len(src) < extra {
					return nil, errors.New("snappy: short literal length")
				}
				length = 0
				for i := extra - 1; i >= 0; i-- {
					length = length<<8 | int(src[i])
				}
				src = src[extra:]
			}
			length++
			if len(src) < length {
				return nil, errors.New("snappy: short literal")
			}
			dst = append(dst, src[:length]...)
			src = src[length:]
			continue
		case 1:
			if len(src) < 2 {
				return nil, errors.New("snappy: short copy")
			}
			length = int(tag>>2&7) + 4
			offset = int(tag>>5)<<8 | int(src[1])
			src = src[2:]
		case 2:
			if len(src) < 3 {
				return nil, errors.New("snappy: short copy")
			}
			length = int(tag>>2) + 1
			offset = int(binary.LittleEndian.Uint16(src[1:]))
			src = src[3:]
		case 3:
			if len(src) < 5 {
				return nil, errors.New("snappy: short copy")
			}
			length = int(tag>>2) + 1
			offset = int(binary.LittleEndian.Uint32(src[1:]))
			src = src[5:]
		}
		if offset <= 0 || offset > len(dst) {
			return nil, errors.New("snappy: bad offset")
		}
		for i := 0; i < length; i++ { // may overlap itself: byte by byte
			dst = append(dst, dst[len(dst)-offset])
		}
	}
	if uint64(len(dst)) != n {
		return nil, errors.New("snappy: length mismatch")
	}
	return dst, nil
}
