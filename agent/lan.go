package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	"github.com/tezgah/tezgah/agent/discovery"
	"github.com/tezgah/tezgah/agent/pairing"
	"github.com/tezgah/tezgah/agent/tlscert"
)

// secure wraps ln in TLS when lan.tls is on. It returns the URL scheme
// and the certificate's fingerprint ("" without TLS).
func (a *Agent) secure(ln net.Listener) (net.Listener, string, string, error) {
	l := a.cfg.LAN
	if !l.TLS {
		return ln, "ws", "", nil
	}
	cert, fp, err := tlscert.Load(a.cfg.Agent.DataDir, l.TLSCertFile, l.TLSKeyFile)
	if err != nil {
		ln.Close()
		return nil, "", "", fmt.Errorf("agent: tls: %w", err)
	}
	a.log.Info("TLS on", "sha256_fingerprint", fp, "expires", cert.Leaf.NotAfter)
	a.web.Metrics().SetCertificateExpiry(cert.Leaf.NotAfter)
	if a.opts.TLSReady != nil {
		a.opts.TLSReady(fp)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), "wss", fp, nil
}

// advertise announces the agent over mDNS until ctx is done, if it
// listens beyond loopback and advertising is not turned off; it returns
// at once otherwise.
func (a *Agent) advertise(ctx context.Context, addr net.Addr, fp string) {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return
	}
	if ta.IP.IsLoopback() {
		a.log.Debug("listening on loopback only: not advertising over mDNS")
		return
	}
	if !a.cfg.LAN.AdvertiseOn() {
		a.log.Info("mDNS advertising is off (lan.advertise = false)")
		return
	}
	if empty, err := pairing.Open(a.cfg.Agent.DataDir).Empty(); err == nil && empty && a.cfg.Agent.PairingToken == "" {
		a.log.Warn("listening beyond this PC but no register is paired: run `tezgah pair --name <register>`")
	}
	auth, tlsOn := "none", "off"
	if a.ws.TokenRequired(false) {
		auth = "token"
	}
	txt := []string{"v=1", "path=/v1/ws", "id=" + a.cfg.Agent.ID, "version=" + a.opts.Version, "auth=" + auth}
	if fp != "" {
		tlsOn = "on"
	}
	txt = append(txt, "tls="+tlsOn)
	if fp != "" {
		txt = append(txt, "fp="+fp)
	}
	err := discovery.Advertise(ctx, discovery.Advertisement{
		Instance: a.cfg.LAN.Instance,
		Port:     ta.Port,
		Text:     txt,
		Addr:     ta.IP,
		Interval: a.cfg.LAN.AnnounceInterval.Duration,
		Log:      a.log,
	})
	if err != nil {
		a.log.Error("mDNS advertising failed", "err", err, "port", strconv.Itoa(ta.Port))
	}
}
