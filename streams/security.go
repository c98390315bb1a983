package streams

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// Security is how every Kafka client of the process authenticates and
// encrypts: pipeline readers, producers (dead letters, results, the
// source), topic administration, the leader election and Subscribe. The
// zero value is plaintext without authentication (a dev cluster).
type Security struct {
	// TLS, when set, encrypts every connection (SSL or SASL_SSL).
	TLS *tls.Config
	// SASL, when set, authenticates every connection (SASL_PLAINTEXT, or
	// SASL_SSL with TLS).
	SASL *SASL
	// ClientID names the process to the brokers (quotas, logs).
	ClientID string
}

// SASL mechanisms.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASL is a SASL mechanism and its credentials. Password is never printed:
// String and the errors of this package leave it out.
type SASL struct {
	Mechanism string
	Username  string
	Password  string
}

// String names the mechanism and user, never the password.
func (s *SASL) String() string {
	if s == nil {
		return "none"
	}
	return s.Mechanism + " as " + s.Username
}

// mechanism builds kafka-go's SASL mechanism.
func (s *SASL) mechanism() (sasl.Mechanism, error) {
	if s == nil {
		return nil, nil
	}
	switch s.Mechanism {
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256:
		return scram.Mechanism(scram.SHA256, s.Username, s.Password)
	case SASLScramSHA512:
		return scram.Mechanism(scram.SHA512, s.Username, s.Password)
	}
	return nil, fmt.Errorf("sasl: unknown mechanism %q (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
}

// Validate reports a mechanism that does not exist or missing credentials.
func (s Security) Validate() error {
	if s.SASL == nil {
		return nil
	}
	if s.SASL.Username == "" || s.SASL.Password == "" {
		return errors.New("sasl: username and password are needed")
	}
	_, err := s.SASL.mechanism()
	return err
}

// Dialer is the Dialer of readers, consumer groups and admin connections.
func (s Security) Dialer() *kafka.Dialer {
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: s.TLS, ClientID: s.ClientID}
	if m, err := s.SASL.mechanism(); err == nil {
		d.SASLMechanism = m
	}
	return d
}

// transports are the process's Transports, one per Security: a Transport
// keeps a pool of connections per broker and refreshes its metadata of
// every topic each metadataTTL, for as long as the process lives. One per
// pipeline and producer made 100 idle pipelines refresh the cluster's
// metadata 100 times over; shared, a process keeps one pool per broker.
var transports struct {
	sync.Mutex
	m map[Security]*kafka.Transport
}

// Transport is the Transport of writers and admin clients, shared by
// every client of the process with the same Security (kafka-go's
// Transport is safe for concurrent use; nothing may change its fields).
func (s Security) Transport() *kafka.Transport {
	transports.Lock()
	defer transports.Unlock()
	if t := transports.m[s]; t != nil {
		return t
	}
	if transports.m == nil {
		transports.m = make(map[Security]*kafka.Transport)
	}
	t := s.newTransport()
	transports.m[s] = t
	return t
}

func (s Security) newTransport() *kafka.Transport {
	t := &kafka.Transport{
		Dial:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		IdleTimeout: 60 * time.Second,
		// kafka-go routes each request to the partition leader its cached
		// metadata names and, unlike the Java client, does not refresh that
		// cache when the leader has moved: requests go on failing until it
		// expires. After a broker dies its partitions get new leaders within
		// seconds; a short TTL makes producers and the health probe follow
		// them as fast (6s by default, measured as the longest gap of a
		// failover). A metadata request is cheap for the brokers.
		MetadataTTL: metadataTTL,
		TLS:         s.TLS,
		ClientID:    s.ClientID,
	}
	if m, err := s.SASL.mechanism(); err == nil {
		t.SASL = m
	}
	return t
}

// metadataTTL is how long a Transport trusts its metadata. kafka-go waits
// for an answer up to the same time, so it must not be so short that a
// busy broker cannot answer in time: at 2 s, a loaded machine timed out
// metadata reads mid-produce, and the source published pages twice.
const metadataTTL = 6 * time.Second

// TLSOptions are the settings of a TLS connection to the brokers, as
// files, the way users give them.
type TLSOptions struct {
	// CAFile is a PEM bundle of the CAs that sign the brokers'
	// certificates; empty trusts the system's.
	CAFile string
	// CertFile and KeyFile, both or neither, are the client certificate of
	// mutual TLS.
	CertFile, KeyFile string
	// ServerName overrides the name checked in the brokers' certificates.
	ServerName string
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string
	// InsecureSkipVerify trusts any certificate: for tests only; the
	// service warns at every start when it is set.
	InsecureSkipVerify bool
}

// Config builds the tls.Config, reading the files; errors name the file.
func (o TLSOptions) Config() (*tls.Config, error) {
	c := &tls.Config{ServerName: o.ServerName, MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify} //nolint:gosec // only when set explicitly
	switch o.MinVersion {
	case "", "1.2":
	case "1.3":
		c.MinVersion = tls.VersionTLS13
	default:
		return nil, fmt.Errorf("min_version: %q is not 1.2 or 1.3", o.MinVersion)
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", o.CAFile)
		}
		c.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("cert_file and key_file: give both for mutual TLS, or neither")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// CheckBrokers connects to each broker with sec and asks for metadata, so
// that a wrong password or an untrusted certificate is reported at once,
// naming the broker and the cause, instead of as a reader that never
// receives anything. It returns nil when one broker answers.
func CheckBrokers(ctx context.Context, brokers []string, sec Security) error {
	var errs []error
	for _, b := range brokers {
		err := checkBroker(ctx, b, sec)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// UnreachableBrokers asks each broker for metadata, as CheckBrokers does,
// and returns a BrokerError for every one that does not answer, even when
// others do: with one node of a cluster down, it names that one.
func UnreachableBrokers(ctx context.Context, brokers []string, sec Security) []error {
	var errs []error
	for _, b := range brokers {
		if err := checkBroker(ctx, b, sec); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func checkBroker(ctx context.Context, broker string, sec Security) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := sec.Dialer().DialContext(ctx, "tcp", broker)
	if err == nil {
		_, err = conn.Brokers()
		_ = conn.Close()
	}
	if err != nil {
		return &BrokerError{Broker: broker, Err: err}
	}
	return nil
}

// BrokerError is a failure to reach or authenticate with one broker.
type BrokerError struct {
	Broker string
	Err    error
}

func (e *BrokerError) Error() string { return "broker " + e.Broker + ": " + describeConnErr(e.Err) }
func (e *BrokerError) Unwrap() error { return e.Err }

// describeConnErr says in words what a connection failure means.
func describeConnErr(err error) string {
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var ke kafka.Error
	switch {
	case errors.As(err, &ua):
		return "TLS: the broker's certificate is signed by an unknown authority (kafka.tls.ca_file must hold the CA that signed it): " + err.Error()
	case errors.As(err, &hn):
		return "TLS: the broker's certificate does not name it (set kafka.tls.server_name): " + err.Error()
	case errors.As(err, &ci):
		return "TLS: the broker's certificate is not valid: " + err.Error()
	case errors.As(err, &ke) && (ke == kafka.SASLAuthenticationFailed || ke == kafka.UnsupportedSASLMechanism || ke == kafka.IllegalSASLState):
		return "SASL: " + err.Error() + " (check kafka.sasl mechanism, username and password)"
	case errors.As(err, &ke) && ke == kafka.InvalidSessionTimeout:
		return err.Error() + " (kafka.session_timeout must lie within the brokers' group.min.session.timeout.ms and group.max.session.timeout.ms: 6s to 30min by default)"
	}
	return err.Error()
}
