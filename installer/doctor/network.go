package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/tezgah/tezgah/agent"
	"github.com/tezgah/tezgah/agent/config"
)

// endpoint is one provider host to reach.
type endpoint struct {
	provider string
	url      string
}

// endpoints lists the provider hosts cfg uses. A provider added to the
// config gets a line here.
func endpoints(cfg *config.Config) []endpoint {
	var out []endpoint
	if cfg.Iyzico != nil {
		out = append(out, endpoint{"iyzico", cfg.Iyzico.BaseURL})
	}
	if cfg.Paywall != nil {
		out = append(out, endpoint{"paywall", cfg.Paywall.BaseURL})
	}
	if cfg.Vomsis != nil {
		out = append(out, endpoint{"vomsis", cfg.Vomsis.BaseURL})
	}
	return out
}

// checkEndpoint checks DNS, TCP, TLS and the clock of one provider host,
// in that order, stopping at the first failure: each needs the one before.
func checkEndpoint(ctx context.Context, ep endpoint, opts Options) []Result {
	name := func(what string) string { return ep.provider + " " + what }
	u, err := url.Parse(ep.url)
	if err != nil || u.Host == "" {
		return []Result{{Check: name("url"), Status: Fail, Detail: fmt.Sprintf("%q is not a URL", ep.url), Remedy: "fix " + ep.provider + ".base_url"}}
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	var out []Result
	ctx, cancel := context.WithTimeout(ctx, 4*opts.Timeout)
	defer cancel()

	dns := Result{Check: name("dns"), Status: OK}
	if ip := net.ParseIP(host); ip != nil {
		dns.Detail = host + " is an IP address"
	} else {
		dctx, c := context.WithTimeout(ctx, opts.Timeout)
		addrs, err := net.DefaultResolver.LookupHost(dctx, host)
		c()
		if err != nil {
			dns.Status, dns.Detail = Fail, err.Error()
			dns.Remedy = "check the PC's DNS server and internet connection (nslookup " + host + "), and " + ep.provider + ".base_url"
			return append(out, dns)
		}
		dns.Detail = fmt.Sprintf("%s → %v", host, addrs)
	}
	out = append(out, dns)

	addr := net.JoinHostPort(host, port)
	tcp := Result{Check: name("tcp"), Status: OK, Detail: addr + " reachable"}
	d := net.Dialer{Timeout: opts.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		tcp.Status, tcp.Detail = Fail, err.Error()
		tcp.Remedy = "a firewall or proxy blocks outgoing connections to " + addr + ", or the host is down; allow it, or check the network"
		return append(out, tcp)
	}
	conn.Close()
	out = append(out, tcp)

	tr := Result{Check: name("tls"), Status: OK}
	if u.Scheme != "https" {
		tr.Status, tr.Detail = Warn, "plain http: fine for a simulator, never for a real provider"
		tr.Remedy = "use the provider's https:// address in " + ep.provider + ".base_url"
	} else {
		td := tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: host}}
		c, err := td.DialContext(ctx, "tcp", addr)
		if err != nil {
			tr.Status, tr.Detail = Fail, err.Error()
			tr.Remedy = "the certificate is not trusted or the connection is intercepted: check the PC's date, its root certificates, and any TLS-inspecting proxy"
			return append(out, tr)
		}
		st := c.(*tls.Conn).ConnectionState()
		c.Close()
		tr.Detail = fmt.Sprintf("%s, certificate for %s valid until %s", tls.VersionName(st.Version), st.PeerCertificates[0].Subject.CommonName, st.PeerCertificates[0].NotAfter.Format("2006-01-02"))
	}
	out = append(out, tr)
	return append(out, checkClock(ctx, ep, opts))
}

// onThisMachine reports whether host names this PC: loopback, or only
// addresses of its own interfaces.
func onThisMachine(ctx context.Context, host string) bool {
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	own := map[string]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				own[n.IP.String()] = true
			}
		}
	}
	for _, ip := range ips {
		if !ip.IP.IsLoopback() && !own[ip.IP.String()] {
			return false
		}
	}
	return true
}

// checkClock compares the local clock with the Date header of the
// provider's answer (any status will do: the header is what counts).
func checkClock(ctx context.Context, ep endpoint, opts Options) Result {
	r := Result{Check: ep.provider + " clock"}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if u, err := url.Parse(ep.url); err == nil && opts.thisMachine(ctx, u.Hostname()) {
		// A simulator or a proxy on this PC stamps its Date with this
		// very clock: there is nothing to compare.
		r.Status, r.Detail = OK, u.Hostname()+" is this PC: its clock is this clock, nothing to compare"
		return r
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, ep.url, nil)
	if err != nil {
		r.Status, r.Detail = Fail, err.Error()
		return r
	}
	sent := opts.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.Status, r.Detail = Warn, "no answer to compare clocks: "+err.Error()
		return r
	}
	resp.Body.Close()
	recv := opts.Now()
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		r.Status, r.Detail = Warn, "the provider sent no Date header to compare with"
		return r
	}
	// The server stamped its Date somewhere between sent and recv; take
	// the middle, and the header's one-second resolution as slack.
	local := sent.Add(recv.Sub(sent) / 2)
	skew := local.Sub(date).Round(time.Second)
	abs := skew.Abs()
	r.Detail = fmt.Sprintf("this PC is %v %s the provider", abs, map[bool]string{true: "ahead of", false: "behind"}[skew >= 0])
	switch {
	case abs > SkewFail:
		r.Status = Fail
	case abs > SkewWarn:
		r.Status = Warn
	default:
		r.Status = OK
		return r
	}
	r.Remedy = "set the clock right and keep it synchronised (Linux: timedatectl set-ntp true; Windows: Settings → Time → Sync now)"
	return r
}

// CredentialChecker is a provider adapter that can prove its credentials
// without moving money (iyzico and Vomsis fetch a token, Paywall reads
// its terminal list).
type CredentialChecker interface {
	CheckCredentials(ctx context.Context) error
}

func checkCredentials(ctx context.Context, cfg *config.Config, opts Options) []Result {
	provs, err := agent.Providers(cfg, agent.Options{Version: opts.Version, Now: opts.Now})
	if err != nil {
		return []Result{{Check: "credentials", Status: Fail, Detail: err.Error(), Remedy: "fix the provider table named above"}}
	}
	names := make([]string, 0, len(provs))
	for n := range provs {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Result
	for _, n := range names {
		r := Result{Check: n + " credentials"}
		cc, ok := provs[n].(CredentialChecker)
		if !ok {
			r.Status, r.Detail = Warn, "this provider cannot be checked without a payment"
			out = append(out, r)
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*opts.Timeout)
		err := cc.CheckCredentials(cctx)
		cancel()
		if err != nil {
			r.Status, r.Detail = Fail, "no token: "+err.Error()
			r.Remedy = "check the " + n + " keys and user in the config (or the env:/file: secrets it names) against the provider's merchant panel"
			if errors.Is(err, context.DeadlineExceeded) {
				r.Remedy = "the provider did not answer in time; see the " + n + " tcp/tls lines"
			}
		} else {
			r.Status, r.Detail = OK, "a token was fetched"
		}
		out = append(out, r)
	}
	return out
}

// checkMDNS tells whether registers on the LAN could find the agent by
// mDNS: it needs a non-loopback listen address and the multicast port.
func checkMDNS(listen string) Result {
	r := Result{Check: "mdns"}
	host, _, _ := net.SplitHostPort(listen)
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		r.Status, r.Detail = OK, "not used: the agent listens on loopback only"
		return r
	}
	c, err := net.ListenMulticastUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353})
	if err != nil {
		r.Status, r.Detail = Warn, "multicast UDP 5353 unavailable: "+err.Error()
		r.Remedy = "registers cannot discover the agent; allow mDNS (UDP 5353) in the firewall, or give registers the address by hand"
		return r
	}
	c.Close()
	r.Status, r.Detail = OK, "multicast UDP 5353 available"
	return r
}
