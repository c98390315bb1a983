package ups

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams"
	"github.com/contactlab/connector/streams/delivery"
)

// Token endpoints of the two services, as the reference gives them
// (Options.Paths overrides them). The status service will not take the
// enrichment service's token, so each has its own TokenSource.
const (
	attributesTokenPath = "/attributes/api/v1/oauth2/token"
	statusTokenPath     = "/common-status/v1/oauth2/token"
)

// TokenStyle is where a token request carries the client credentials. The
// reference shows both: its curl example sends form fields, its prose and
// sample request a query string.
type TokenStyle string

const (
	// TokenStyleForm sends grant_type, client_id and client_secret as form
	// fields in the body, as the reference's curl example does; the
	// default, since it keeps the secret out of URLs and access logs.
	TokenStyleForm TokenStyle = "form"
	// TokenStyleQuery sends them as query parameters of the POST, as the
	// reference's prose does.
	TokenStyleQuery TokenStyle = "query"
)

// maxTokenAnswer bounds the token endpoint's answer that is read.
const maxTokenAnswer = 64 << 10

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
// form fields or query parameters: TokenStyle), keeps it until shortly
// before expires_in runs out, and fetches a new one when a caller reports
// that the service refused it. Concurrent callers share one fetch, and a
// failed fetch is tried again only after tokenRetry's back-off.
type TokenSource struct {
	url      string // the endpoint, without the credentials
	style    TokenStyle
	clientID string
	secret   string
	hc       *http.Client
	route    string // "POST /attributes/api/v1/oauth2/token", for errors
	now      func() time.Time

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
// baseURL+path, sending the credentials as style says (TokenStyleForm when
// empty) through hc (the pooled client of package httpapi).
func NewTokenSource(baseURL, path string, style TokenStyle, clientID, clientSecret string, hc *http.Client) *TokenSource {
	if style == "" {
		style = TokenStyleForm
	}
	return &TokenSource{
		url:      strings.TrimRight(baseURL, "/") + path,
		style:    style,
		clientID: clientID,
		secret:   clientSecret,
		hc:       hc,
		route:    "POST " + path,
		now:      time.Now,
		lock:     make(chan struct{}, 1),
		retry:    tokenRetry.Start(),
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
	tok, ttl, err := ts.fetch(ctx)
	if err != nil {
		if ctx.Err() == nil { // a caller giving up says nothing of the endpoint
			wait, _ := ts.retry.Next(err) // a Forever policy: never exhausted
			ts.retryAt, ts.failed = ts.now().Add(wait), err
		}
		return "", err
	}
	ts.retry.Reset()
	ts.retryAt, ts.failed = time.Time{}, nil
	ts.tok = tok
	ts.renewAt = time.Time{}
	if ttl > 0 {
		ts.renewAt = fetched.Add(ttl - min(ttl/10, maxRefreshAhead))
	}
	return ts.tok, nil
}

// tokenAnswer is the token endpoint's answer: the token (RFC 6749, section
// 5.1, as the reference's sample shows it) or an error (section 5.2).
type tokenAnswer struct {
	AccessToken string          `json:"access_token"`
	TokenType   string          `json:"token_type"`
	ExpiresIn   json.RawMessage `json:"expires_in"`
	Error       string          `json:"error"`
	Description string          `json:"error_description"`
}

// fetch asks the endpoint for a token, with the credentials where the
// style says, and returns it with its lifetime (0: not said).
func (ts *TokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	creds := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret}}
	var body io.Reader
	target := ts.url
	if ts.style == TokenStyleQuery {
		target += "?" + creds.Encode()
	} else {
		body = strings.NewReader(creds.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, body)
	if err != nil {
		// The URL holds the secret in query style: never quote it.
		return "", 0, fmt.Errorf("ups: %s: build the token request: bad endpoint URL", ts.route)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := ts.hc.Do(req)
	if err != nil {
		return "", 0, ts.netError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	if err != nil {
		return "", 0, ts.netError(ctx, err)
	}
	var ans tokenAnswer
	decodeErr := json.Unmarshal(raw, &ans)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", 0, &TokenError{Route: ts.route, Status: resp.StatusCode, Code: ans.Error, Description: ans.Description,
			Retry: httpapi.ParseRetryAfter(resp.Header.Get("Retry-After"), ts.now())}
	}
	if decodeErr != nil || ans.AccessToken == "" {
		// A 2xx without a token: the endpoint misbehaves; tried again
		// after the back-off, like a 5xx.
		return "", 0, &TokenError{Route: ts.route, Status: resp.StatusCode, Code: "no_access_token", Description: "the answer carries no access_token"}
	}
	return ans.AccessToken, expiresIn(ans.ExpiresIn), nil
}

// expiresIn reads expires_in, a number of seconds (some servers send it as
// a string); 0 when absent or unreadable.
func expiresIn(raw json.RawMessage) time.Duration {
	var n json.Number
	if len(raw) == 0 || json.Unmarshal(bytes.Trim(raw, `"`), &n) != nil {
		return 0
	}
	secs, err := n.Int64()
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(secs) * time.Second
}

// netError is a transport failure of the token endpoint. The url.Error of
// net/http quotes the URL, which holds the secret in query style: only
// its cause is kept.
func (ts *TokenSource) netError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ups: %s: %w", ts.route, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &httpapi.NetError{API: "ups", Route: ts.route, Err: err}
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
