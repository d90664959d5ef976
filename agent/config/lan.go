package config

import (
	"time"
)

// LAN is the [lan] table: what the agent does when registers on other
// machines of the shop connect — mDNS advertising, TLS, and the limits
// of the front door. docs/security.md explains the choices.
type LAN struct {
	// Advertise announces the agent over mDNS whenever it listens beyond
	// loopback. Default true; false turns it off.
	Advertise *bool `toml:"advertise"`
	// Instance is the advertised name. Default: agent.id.
	Instance string `toml:"instance"`
	// TLS serves wss:// instead of ws://, with TLSCertFile/TLSKeyFile,
	// or a self-signed certificate kept in the data directory.
	TLS         bool   `toml:"tls"`
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// RequireTokenOnLoopback makes programs on this PC present a pairing
	// token too. Default false.
	RequireTokenOnLoopback bool `toml:"require_token_on_loopback"`
	// MaxConnectionsPerClient bounds open WebSocket connections from one
	// IP address. Default 8.
	MaxConnectionsPerClient int `toml:"max_connections_per_client"`
	// AnnounceInterval is how often interfaces are checked for changes
	// to re-announce. Default 5s.
	AnnounceInterval Duration `toml:"announce_interval"`
}

const lanKeys = "advertise, instance, tls, tls_cert_file, tls_key_file, require_token_on_loopback, max_connections_per_client, announce_interval"

// AdvertiseOn reports whether mDNS advertising is wanted (when the agent
// listens beyond loopback).
func (l LAN) AdvertiseOn() bool { return l.Advertise == nil || *l.Advertise }

func (c *Config) lanDefaults() {
	l := &c.LAN
	if l.Instance == "" {
		l.Instance = c.Agent.ID
	}
	if l.MaxConnectionsPerClient == 0 {
		l.MaxConnectionsPerClient = 8
	}
	if l.AnnounceInterval.Duration == 0 {
		l.AnnounceInterval.Duration = 5 * time.Second
	}
}

func (c *Config) validateLAN() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fieldError(key, format, args...))
	}
	l := c.LAN
	if len(l.Instance) > 63 {
		bad("lan.instance", "%q is over 63 bytes (a DNS label)", l.Instance)
	}
	if (l.TLSCertFile == "") != (l.TLSKeyFile == "") {
		bad("lan.tls_cert_file", "tls_cert_file and tls_key_file go together")
	}
	if l.TLSCertFile != "" && !l.TLS {
		bad("lan.tls", "tls_cert_file is set but tls is false; set tls = true")
	}
	if l.MaxConnectionsPerClient < 1 || l.MaxConnectionsPerClient > 1000 {
		bad("lan.max_connections_per_client", "%d is outside 1..1000", l.MaxConnectionsPerClient)
	}
	if l.AnnounceInterval.Duration < time.Second || l.AnnounceInterval.Duration > time.Hour {
		bad("lan.announce_interval", "%v is outside 1s..1h", l.AnnounceInterval.Duration)
	}
	return errs
}
