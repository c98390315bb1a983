package kafkatest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// The broker's certificate chains to the CA the clients trust, for
// localhost and 127.0.0.1, and its key is the certificate's.
func TestCertsChainToTheCA(t *testing.T) {
	c, err := newCerts()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c.chainPEM, c.keyPEM)
	if err != nil {
		t.Fatalf("chain and key do not match: %v", err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: c.pool, DNSName: host}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	block, _ := pem.Decode(c.caPEM)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA || ca.CheckSignatureFrom(ca) != nil {
		t.Fatalf("the CA is not a self-signed CA: %v", err)
	}
}
