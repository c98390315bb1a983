// Package sandbox serves stand-ins for the three APIs the connector talks to,
// on one loopback HTTP server, enforcing their documented rules and injecting
// faults on demand. Tests start it in-process; cmd/sandbox serves it.
//
// Layout of the one server:
//
//	/hub/v1/...                       Contacthub (base URL {url}/hub/v1)
//	/attributes/..., /common-status/... UPS Enrichment (base URL {url})
//	/v2/...                           EnableNow (base URL {url})
//	/_sandbox/{contacthub,ups,enablenow}/stats   JSON stats
//	/_sandbox/{contacthub,ups,enablenow}/faults  GET or PUT fault settings
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/contactlab/connector/connector/sandbox/contacthub"
	"github.com/contactlab/connector/connector/sandbox/enablenow"
	"github.com/contactlab/connector/connector/sandbox/ups"
)

// Config configures the three stand-ins.
type Config struct {
	Contacthub contacthub.Config
	UPS        ups.Config
	EnableNow  enablenow.Config
}

// Sandbox is a running sandbox.
type Sandbox struct {
	Contacthub *contacthub.Server
	UPS        *ups.Server
	EnableNow  *enablenow.Server

	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	done   chan struct{}
}

// ContacthubPrefix is where the Contacthub stand-in is mounted.
const ContacthubPrefix = "/hub/v1"

// Start serves the sandbox on addr ("127.0.0.1:0" for a free port) until
// Close. Background generators run until then too.
func Start(addr string, cfg Config) (*Sandbox, error) {
	ch, err := contacthub.New(cfg.Contacthub)
	if err != nil {
		return nil, fmt.Errorf("sandbox: contacthub: %w", err)
	}
	u, err := ups.New(cfg.UPS)
	if err != nil {
		return nil, fmt.Errorf("sandbox: ups: %w", err)
	}
	en, err := enablenow.New(cfg.EnableNow)
	if err != nil {
		return nil, fmt.Errorf("sandbox: enablenow: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(ContacthubPrefix+"/", http.StripPrefix(ContacthubPrefix, ch.Handler()))
	mux.Handle("/attributes/", u.Handler())
	mux.Handle("/common-status/", u.Handler())
	mux.Handle("/v2/", en.Handler())
	mux.Handle("/_sandbox/contacthub/", http.StripPrefix("/_sandbox/contacthub", ch.Handler()))
	mux.Handle("/_sandbox/ups/", http.StripPrefix("/_sandbox/ups", u.Handler()))
	mux.Handle("/_sandbox/enablenow/", http.StripPrefix("/_sandbox/enablenow", en.Handler()))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{Contacthub: ch, UPS: u, EnableNow: en, ln: ln, cancel: cancel, done: make(chan struct{}),
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		ch.Run(ctx)
	}()
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			panic(err)
		}
	}()
	return s, nil
}

// URL is the sandbox's base URL, http://host:port.
func (s *Sandbox) URL() string { return "http://" + s.ln.Addr().String() }

// ContacthubURL is the Contacthub base URL.
func (s *Sandbox) ContacthubURL() string { return s.URL() + ContacthubPrefix }

// Close stops the server and the generators. It is safe to call twice.
func (s *Sandbox) Close() {
	s.cancel()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

// Credentials and ids of the default sandbox, which the embedded demo and the
// tests configure the connector with. They are not secrets of anything real.
const (
	WorkspaceID     = "2f8e7a0c-3b1d-4a51-9d0e-6f7c8b9a0d1e"
	NodeID          = "959356e3-6168-4a92-b4a5-b9d462be6177"
	ContacthubToken = "sandbox-contacthub-token"
	UPSAPIKey       = "608"
	UPSClientID     = "5934de97c95e1ced"
	UPSClientSecret = "sandbox-ups-secret"
	EnableNowToken  = "sandbox-enablenow-token"
)

// DefaultConfig is a sandbox with every rule on and no faults, serving the
// references' documented shapes (no per-update offsets on the update
// stream).
func DefaultConfig() Config {
	return Config{
		Contacthub: contacthub.Config{WorkspaceID: WorkspaceID, Token: ContacthubToken, NodeID: NodeID, Customers: 100},
		UPS:        ups.Config{ClientID: UPSClientID, ClientSecret: UPSClientSecret, APIKey: UPSAPIKey},
		EnableNow:  enablenow.Config{Token: EnableNowToken},
	}
}
