package config

import (
	"strings"
	"testing"
	"time"
)

func TestLANDefaultsAndKeys(t *testing.T) {
	c, err := Parse("t.toml", []byte(strings.Replace(valid, "[agent]\n", "[agent]\nid = \"magaza-1\"\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !c.LAN.AdvertiseOn() || c.LAN.Instance != "magaza-1" || c.LAN.TLS || c.LAN.RequireTokenOnLoopback ||
		c.LAN.MaxConnectionsPerClient != 8 || c.LAN.AnnounceInterval.Duration != 5*time.Second {
		t.Fatalf("lan defaults: %+v", c.LAN)
	}
	c, err = Parse("t.toml", []byte(valid+`
[lan]
advertise = false
instance = "Kadıköy kasa"
tls = true
tls_cert_file = "/etc/tezgah/cert.pem"
tls_key_file = "/etc/tezgah/key.pem"
require_token_on_loopback = true
max_connections_per_client = 3
announce_interval = "30s"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.LAN.AdvertiseOn() || c.LAN.Instance != "Kadıköy kasa" || !c.LAN.TLS || !c.LAN.RequireTokenOnLoopback ||
		c.LAN.MaxConnectionsPerClient != 3 || c.LAN.AnnounceInterval.Duration != 30*time.Second {
		t.Fatalf("lan keys: %+v", c.LAN)
	}
}

func TestLANErrors(t *testing.T) {
	tests := []struct{ name, lan, want string }{
		{"unknown key", "advertize = true", `unknown key "lan.advertize" (allowed: advertise,`},
		{"cert without key", "tls = true\ntls_cert_file = \"c.pem\"", "lan.tls_cert_file: tls_cert_file and tls_key_file go together"},
		{"files without tls", "tls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"", "lan.tls: tls_cert_file is set but tls is false"},
		{"connection limit", "max_connections_per_client = -1", "lan.max_connections_per_client: -1 is outside 1..1000"},
		{"long instance", "instance = \"" + strings.Repeat("x", 64) + "\"", "lan.instance:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(valid+"\n[lan]\n"+tc.lan+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
