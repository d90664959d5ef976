package discovery

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/grandcat/zeroconf"
	"github.com/miekg/dns"

	"github.com/tezgah/tezgah/internal/netnstest"
)

// mdnsPackets listens to every mDNS packet on the interface dev.
func mdnsPackets(t *testing.T, dev string) <-chan *dns.Msg {
	t.Helper()
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ch := make(chan *dns.Msg, 256)
	go func() {
		buf := make([]byte, 9000)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil && m.Response {
				select {
				case ch <- m:
				default:
				}
			}
		}
	}()
	return ch
}

// waitPacket waits up to 5 s for a packet with a record that match accepts.
func waitPacket(t *testing.T, ch <-chan *dns.Msg, what string, match func(dns.RR) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-ch:
			for _, rr := range append(m.Answer, m.Extra...) {
				if match(rr) {
					return
				}
			}
		case <-deadline:
			t.Fatalf("no %s within 5s", what)
		}
	}
}

func isA(ip string, ttl0 bool) func(dns.RR) bool {
	return func(rr dns.RR) bool {
		a, ok := rr.(*dns.A)
		return ok && a.A.String() == ip && (a.Hdr.Ttl == 0) == ttl0
	}
}

func TestAdvertiseBrowseReannounceGoodbye(t *testing.T) {
	if !netnstest.InSingle(t) {
		return
	}
	packets := mdnsPackets(t, "tzb")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	txt := []string{"v=1", "path=/v1/ws", "id=magaza 1", "version=test", "auth=token", "tls=off"}
	go func() {
		done <- Advertise(ctx, Advertisement{Instance: "magaza 1", Port: 8417, Text: txt, Interval: 50 * time.Millisecond})
	}()

	bctx, bcancel := context.WithTimeout(ctx, 5*time.Second)
	var got []Entry
	err := Browse(bctx, func(e Entry) bool { got = append(got, e); return true })
	bcancel()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("found %d agents in 5s, want 1", len(got))
	}
	e := got[0]
	if e.Instance != "magaza 1" || e.Port != 8417 || e.Text["id"] != "magaza 1" || e.Text["auth"] != "token" || e.Text["v"] != "1" {
		t.Fatalf("found %+v", e)
	}
	if !slices.Contains(e.Addrs, netnstest.AddrA) && !slices.Contains(e.Addrs, netnstest.AddrB) {
		t.Fatalf("addresses %v lack the namespace's", e.Addrs)
	}
	if u := e.URL(); !strings.HasPrefix(u, "ws://10.213.0.") || !strings.HasSuffix(u, ":8417/v1/ws") {
		t.Fatalf("URL %q", u)
	}

	// A new address is announced without anyone asking.
	if out, err := exec.Command("ip", "addr", "add", "10.213.0.5/30", "dev", "tzb").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	waitPacket(t, packets, "announcement of the new address", isA("10.213.0.5", false))

	// Shutdown says goodbye for the current addresses.
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Advertise did not return after cancel")
	}
	waitPacket(t, packets, "goodbye (TTL 0) for the new address", isA("10.213.0.5", true))
}

func TestAdvertiseRefusesNonsense(t *testing.T) {
	ctx := context.Background()
	for _, ad := range []Advertisement{
		{Instance: "", Port: 1},
		{Instance: "x", Port: 0},
		{Instance: "x", Port: 70000},
		{Instance: "x", Port: 1, Text: []string{strings.Repeat("a", 256)}},
	} {
		if err := Advertise(ctx, ad); err == nil {
			t.Errorf("Advertise(%+v) accepted", ad)
		}
	}
}

func TestParseText(t *testing.T) {
	got := parseText([]string{"v=1", "ID=kasa=pc", "id=second", "flag", "=nokey", "fp="})
	want := map[string]string{"v": "1", "id": "kasa=pc", "flag": "", "fp": ""}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if u := unescape(`magaza\ 1\0461\\`); u != `magaza 1.1\` {
		t.Fatalf("unescape: %q", u)
	}
}

// TXT records and instance names come from anyone on the network.
func FuzzParseEntry(f *testing.F) {
	f.Add("magaza\\ 1", "v=1\x00path=/v1/ws\x00tls=on")
	f.Add("x\\999\\", "=\x00\x00A=b=c")
	f.Fuzz(func(t *testing.T, instance, txt string) {
		e := entryOf(&zeroconf.ServiceEntry{ServiceRecord: zeroconf.ServiceRecord{Instance: instance}, Text: strings.Split(txt, "\x00"), Port: 1})
		if len(e.Instance) > len(instance) {
			t.Fatalf("unescaping grew %q to %q", instance, e.Instance)
		}
		for k := range e.Text {
			if k == "" || strings.Contains(k, "=") || strings.ToLower(k) != k {
				t.Fatalf("bad key %q from %q", k, txt)
			}
		}
		_ = e.URL()
	})
}
