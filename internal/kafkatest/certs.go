package kafkatest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// certs is a throw-away CA and the broker certificate it signed. Every node
// of a cluster serves the same certificate: they all listen on loopback, so
// one set of names (127.0.0.1, ::1, localhost) covers them.
type certs struct {
	caPEM []byte // the CA certificate, what clients trust
	// chainPEM is the broker certificate followed by the CA, and keyPEM its
	// unencrypted PKCS#8 key: the two values of Kafka's in-line PEM keystore
	// (ssl.keystore.certificate.chain, ssl.keystore.key). In-line because a
	// PEM keystore file needs an encrypted key, which crypto/x509 cannot write.
	chainPEM []byte
	keyPEM   []byte
	pool     *x509.CertPool
}

func newCerts() (certs, error) {
	caKey, ca, err := issue("CA", &x509.Certificate{
		Subject:               pkix.Name{CommonName: "kafkatest CA"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, nil, nil)
	if err != nil {
		return certs{}, err
	}
	key, cert, err := issue("broker", &x509.Certificate{
		Subject:     pkix.Name{CommonName: "localhost"},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	if err != nil {
		return certs{}, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return certs{}, fmt.Errorf("broker key: %w", err)
	}

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return certs{
		caPEM:    caPEM,
		chainPEM: append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), caPEM...),
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		pool:     pool,
	}, nil
}

// issue makes a key and the certificate of tmpl for it, valid from an hour
// ago for a week under a random serial, signed by parent with parentKey, or
// self-signed when parent is nil; what names the certificate in errors.
func issue(what string, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(7*24*time.Hour)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("%s key: %w", what, err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%s certificate: %w", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("%s certificate: %w", what, err)
	}
	return key, cert, nil
}

// tlsConfig trusts the test CA only, so a client that connects with it
// proves the broker serves the certificate the harness made.
func (c certs) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		// crypto/rand does not fail on Linux; a fixed serial is still valid.
		return big.NewInt(time.Now().UnixNano())
	}
	return n
}
