package ups

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// Token endpoints of the two services. The status service will not take the
// enrichment service's token, so each has its own TokenSource.
const (
	attributesTokenPath = "/attributes/api/v1/oauth2/token"
	statusTokenPath     = "/common-status/v1/oauth2/token"
)

// tokenRetry is the back-off between token fetches that failed. While it
// runs, Token answers the last failure at once instead of asking again, so
// a token endpoint that is down, or refuses the credential, sees one fetch
// per back-off rather than one per request and status read of every sink;
// the answer carries the time left (RetryDelayOf), so the runtime does not
// come back sooner either.
var tokenRetry = delivery.Policy{InitialInterval: 200 * time.Millisecond, MaxInterval: 30 * time.Second}

// maxRefreshAhead caps how long before its expiry a token is replaced; for
// short-lived tokens a tenth of the lifetime is used instead.
const maxRefreshAhead = 5 * time.Minute

// TokenSource hands out the bearer token of one UPS service. It fetches the
// token with the client-credentials grant (client_id and client_secret as
// form fields, as the reference's curl example sends them), keeps it until
// shortly before expires_in runs out, and fetches a new one when a caller
// reports that the service refused it. Concurrent callers share one fetch,
// and a failed fetch is tried again only after tokenRetry's back-off.
type TokenSource struct {
	cfg   clientcredentials.Config
	hc    *http.Client
	route string // "POST /attributes/api/v1/oauth2/token", for errors
	now   func() time.Time

	// lock is a one-slot semaphore rather than a mutex so that a caller
	// waiting for another's fetch can give up when its context ends.
	lock chan struct{}
	tok  string
	// renewAt is when the cached token should be replaced; zero: never
	// (the answer had no expires_in), so only a 401 replaces it.
	renewAt time.Time
	// retry follows failed fetches; until retryAt, Token answers failed.
	retry   *delivery.Retrier
	retryAt time.Time
	failed  error
}

// NewTokenSource builds a TokenSource for the token endpoint at
// baseURL+path, sending its requests through hc (the pooled client of
// package httpapi).
func NewTokenSource(baseURL, path, clientID, clientSecret string, hc *http.Client) *TokenSource {
	return &TokenSource{
		cfg: clientcredentials.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			TokenURL:     strings.TrimRight(baseURL, "/") + path,
			AuthStyle:    oauth2.AuthStyleInParams,
		},
		hc:    hc,
		route: "POST " + path,
		now:   time.Now,
		lock:  make(chan struct{}, 1),
		retry: tokenRetry.Start(),
	}
}

// Token returns a valid-looking token, fetching one when none is cached or
// the cached one is due for renewal. After a failed fetch, and until the
// back-off has passed, it returns that failure without fetching.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	select {
	case ts.lock <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("ups: %s: waiting for the token: %w", ts.route, ctx.Err())
	}
	defer func() { <-ts.lock }()
	if ts.tok != "" && (ts.renewAt.IsZero() || ts.now().Before(ts.renewAt)) {
		return ts.tok, nil
	}
	fetched := ts.now()
	if fetched.Before(ts.retryAt) {
		return "", delivery.RetryAfter(ts.retryAt.Sub(fetched), ts.failed)
	}
	t, err := ts.cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, ts.hc))
	if err != nil {
		err = ts.wrap(ctx, err)
		if ctx.Err() == nil { // a caller giving up says nothing of the endpoint
			wait, _ := ts.retry.Next(err) // a Forever policy: never exhausted
			ts.retryAt, ts.failed = ts.now().Add(wait), err
		}
		return "", err
	}
	ts.retry.Reset()
	ts.retryAt, ts.failed = time.Time{}, nil
	ts.tok = t.AccessToken
	ts.renewAt = time.Time{}
	if !t.Expiry.IsZero() {
		ttl := t.Expiry.Sub(fetched)
		ts.renewAt = t.Expiry.Add(-min(ttl/10, maxRefreshAhead))
	}
	return ts.tok, nil
}

// Invalidate forgets tok after the service answered 401 to it, so the next
// Token fetches a new one. A token that was already replaced (by another
// caller's Invalidate) is left alone, so a burst of 401s costs one fetch.
func (ts *TokenSource) Invalidate(tok string) {
	ts.lock <- struct{}{}
	defer func() { <-ts.lock }()
	if ts.tok == tok {
		ts.tok = ""
	}
}

// wrap turns the oauth2 package's errors into the connector's: a refused
// credential is ErrUnauthorized whatever the status (RFC 6749 answers 400
// invalid_grant as well as 401 invalid_client, and the record is not at fault
// either way), a 5xx or 429 stays retryable, and a transport failure is an
// httpapi.NetError. The client secret travels in the request body, never in
// a URL, and none of these errors quotes the request.
func (ts *TokenSource) wrap(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ups: %s: %w", ts.route, ctx.Err())
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		te := &TokenError{Route: ts.route, Code: re.ErrorCode, Description: re.ErrorDescription}
		if re.Response != nil {
			te.Status = re.Response.StatusCode
			te.Retry = httpapi.ParseRetryAfter(re.Response.Header.Get("Retry-After"), ts.now())
		}
		return te
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &httpapi.NetError{API: "ups", Route: ts.route, Err: err}
}

// TokenError is a token endpoint's refusal.
type TokenError struct {
	Route       string
	Status      int
	Code        string // OAuth error code, e.g. invalid_client
	Description string
	Retry       time.Duration
}

func (e *TokenError) Error() string {
	msg := fmt.Sprintf("ups: %s: HTTP %d", e.Route, e.Status)
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// Is makes a refused credential a credential failure (the runtime pauses
// and retries) and never a rejection, which would dead-letter good records.
func (e *TokenError) Is(target error) bool {
	return target == streams.ErrUnauthorized && e.Status >= 400 && e.Status < 500 &&
		e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout
}

// HTTPStatus is the token endpoint's status.
func (e *TokenError) HTTPStatus() int { return e.Status }

// RetryDelay is the answer's Retry-After.
func (e *TokenError) RetryDelay() time.Duration { return e.Retry }
