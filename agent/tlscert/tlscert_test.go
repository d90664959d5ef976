package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedIsKeptAndPinnable(t *testing.T) {
	dir := t.TempDir()
	c, fp, err := Load(dir, "", "")
	if err != nil {
		t.Fatal(err)
	}
	k, ok := c.PrivateKey.(*ecdsa.PrivateKey)
	if !ok || k.Curve != elliptic.P256() {
		t.Fatalf("key %T, want ECDSA P-256", c.PrivateKey)
	}
	if len(fp) != 64 || fp != Fingerprint(c.Leaf.Raw) {
		t.Fatalf("fingerprint %q", fp)
	}
	if c.Leaf.NotAfter.Before(time.Now().Add(5 * 365 * 24 * time.Hour)) {
		t.Fatalf("expires %v: too soon for a pinned certificate", c.Leaf.NotAfter)
	}
	// The next start keeps the same certificate: pins stay valid.
	_, fp2, err := Load(dir, "", "")
	if err != nil || fp2 != fp {
		t.Fatalf("second start: fingerprint %q (err %v), want %q", fp2, err, fp)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(dir, Dir, "key.pem"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v, want mode 0600", fi, err)
		}
	}

	// A register pinning the fingerprint completes a handshake over
	// loopback; one pinning another fingerprint does not.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	dial := func(pin string) error {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			InsecureSkipVerify: true, // no CA: the pin below is the check
			VerifyConnection: func(cs tls.ConnectionState) error {
				if Fingerprint(cs.PeerCertificates[0].Raw) != pin {
					return errors.New("pin mismatch")
				}
				return nil
			},
		})
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := dial(fp); err != nil {
		t.Fatalf("pinned handshake: %v", err)
	}
	if err := dial(strings.Repeat("0", 64)); err == nil {
		t.Fatal("handshake with a wrong pin succeeded")
	}
}

func TestConfiguredFiles(t *testing.T) {
	src := t.TempDir()
	want, fp, err := Load(src, "", "")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(src, Dir, "cert.pem"), filepath.Join(src, Dir, "key.pem")
	other := t.TempDir()
	_, got, err := Load(other, cert, key)
	if err != nil || got != fp || Fingerprint(want.Leaf.Raw) != got {
		t.Fatalf("configured files: %q %v, want %q", got, err, fp)
	}
	if _, err := os.Stat(filepath.Join(other, Dir)); !os.IsNotExist(err) {
		t.Fatal("a self-signed certificate was made although files were configured")
	}
	if _, _, err := Load(other, cert, filepath.Join(src, "missing.pem")); err == nil {
		t.Fatal("a missing key file was accepted")
	}
}

func TestPretty(t *testing.T) {
	if p := Pretty("0aff10"); p != "0A:FF:10" {
		t.Fatalf("Pretty = %q", p)
	}
}
