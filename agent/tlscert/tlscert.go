// Package tlscert provides the agent's TLS certificate for wss://: the
// shop's own one from the configuration, or a self-signed one made at
// first start and kept in the data directory. Registers cannot check a
// self-signed certificate against a CA, so they pin it instead: its
// SHA-256 fingerprint is printed at start and published in the mDNS TXT
// record (fp=), and stays the same across restarts because the
// certificate is kept.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Dir is the folder of the self-signed certificate inside the data
// directory; it holds cert.pem and key.pem.
const Dir = "tls"

// Validity of a self-signed certificate. Long, because a pinned
// certificate that expires breaks every register at once; a new one is
// made by deleting the folder (and re-pinning).
const Validity = 10 * 365 * 24 * time.Hour

// Load returns the agent's certificate and its fingerprint: the files
// certFile and keyFile when given, otherwise the self-signed one in
// dataDir/tls, made on first use.
func Load(dataDir, certFile, keyFile string) (tls.Certificate, string, error) {
	generated := false
	if certFile == "" && keyFile == "" {
		dir := filepath.Join(dataDir, Dir)
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if !exists(certFile) || !exists(keyFile) {
			if err := generate(dir, certFile, keyFile, time.Now()); err != nil {
				return tls.Certificate{}, "", err
			}
			generated = true
		}
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tlscert: %w", err)
	}
	if c.Leaf == nil {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return tls.Certificate{}, "", fmt.Errorf("tlscert: %s: %w", certFile, err)
		}
	}
	if !generated && time.Now().After(c.Leaf.NotAfter) {
		return tls.Certificate{}, "", fmt.Errorf("tlscert: %s expired on %s", certFile, c.Leaf.NotAfter.Format(time.DateOnly))
	}
	return c, Fingerprint(c.Certificate[0]), nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes, lowercase hex
// without separators: what `openssl x509 -fingerprint -sha256` prints,
// less the colons.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Pretty prints a fingerprint in colon-separated upper-case pairs, as
// browsers and openssl show it, for people comparing by eye.
func Pretty(fp string) string {
	var b strings.Builder
	for i := 0; i+1 < len(fp); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(fp[i : i+2]))
	}
	return b.String()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func generate(dir, certFile, keyFile string, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("tlscert: key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return fmt.Errorf("tlscert: serial: %w", err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tezgah " + host, Organization: []string{"tezgah (self-signed)"}},
		NotBefore:             now.Add(-time.Hour), // a register whose clock is a little behind
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host, strings.TrimSuffix(host, ".local")+".local")
	}
	// Today's addresses, for registers that check names; addresses
	// change, which is why pinning the fingerprint is the way.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, n.IP)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	// Key first: a crash between the two leaves no certificate, and the
	// next start makes a fresh pair rather than pairing a cert with a
	// key that is not its own.
	if err := writeFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return writeFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writeFile replaces path atomically.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = errors.Join(tmp.Chmod(mode), func() error { _, err := tmp.Write(data); return err }(), tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("tlscert: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tlscert: %w", err)
	}
	return nil
}
