package contacthub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// CustomerPaths are the paths of the customer calls. The reference does not
// show them; the defaults follow the resources under
// /workspaces/{workspaceId}/... that the API's public material shows.
// {workspaceId} and {customerId} are replaced.
type CustomerPaths struct {
	// Customers is Create customer (POST).
	Customers string
	// Customer is Partially modify customer (PATCH).
	Customer string
	// Sessions is Create customer session (POST).
	Sessions string
}

// DefaultCustomerPaths are the paths used for every empty field.
func DefaultCustomerPaths() CustomerPaths {
	return CustomerPaths{
		Customers: "/workspaces/{workspaceId}/customers",
		Customer:  "/workspaces/{workspaceId}/customers/{customerId}",
		Sessions:  "/workspaces/{workspaceId}/customers/{customerId}/sessions",
	}
}

func (p CustomerPaths) withDefaults() CustomerPaths {
	d := DefaultCustomerPaths()
	for _, f := range []struct{ v, def *string }{{&p.Customers, &d.Customers}, {&p.Customer, &d.Customer}, {&p.Sessions, &d.Sessions}} {
		if *f.v == "" {
			*f.v = *f.def
		}
	}
	return p
}

// validate checks every path from one table: each is absolute, and the two
// that address one customer say where its id goes.
func (p CustomerPaths) validate() error {
	var errs []error
	for _, c := range []struct {
		field, path string
		needsID     bool
	}{
		{"customers", p.Customers, false},
		{"customer", p.Customer, true},
		{"sessions", p.Sessions, true},
	} {
		switch {
		case !strings.HasPrefix(c.path, "/"):
			errs = append(errs, fmt.Errorf("contacthub paths: %s: %q must start with /", c.field, c.path))
		case c.needsID && !strings.Contains(c.path, "{customerId}"):
			errs = append(errs, fmt.Errorf("contacthub paths: %s: %q must contain {customerId}", c.field, c.path))
		case !c.needsID && strings.Contains(c.path, "{customerId}"):
			errs = append(errs, fmt.Errorf("contacthub paths: %s: %q names no customer, so it cannot contain {customerId}", c.field, c.path))
		}
	}
	return errors.Join(errs...)
}

// CustomersClient makes the customer calls of a Client's workspace. It
// shares the Client's connection pool, its pace below the workspace
// throttling (Contacthub throttles the workspace, not the endpoint) and
// the error classification of connector/httpapi: 401 pauses, other 4xx but
// 403, 408 and 429 reject, the rest is retried; a 403 pauses when the token
// is refused for other calls too, and rejects the record when it is not
// (Client.ownCall). Errors carry the API's logref.
type CustomersClient struct {
	c     *Client
	paths CustomerPaths
}

// Customers returns the customer calls of c at paths (empty fields take
// DefaultCustomerPaths).
func (c *Client) Customers(paths CustomerPaths) (*CustomersClient, error) {
	paths = paths.withDefaults()
	if err := paths.validate(); err != nil {
		return nil, err
	}
	return &CustomersClient{c: c, paths: paths}, nil
}

// Paths are the paths the client uses.
func (cc *CustomersClient) Paths() CustomerPaths { return cc.paths }

// EnsurePace reads the workspace throttling when it is due (Client.EnsurePace).
func (cc *CustomersClient) EnsurePace(ctx context.Context) error {
	return cc.c.EnsurePace(ctx, cc.c.cfg.ThrottlingRefresh)
}

// Create posts a Create customer body as is. Under the workspace's MERGE
// uniqueness policy the customer is created, or merged into the existing
// one its entry node's unique properties match. It returns the customer's
// id.
func (cc *CustomersClient) Create(ctx context.Context, body []byte) (string, error) {
	return cc.send(ctx, http.MethodPost, cc.paths.Customers, "", body)
}

// Patch sends a Partially modify customer body as is to customer id and
// returns the customer's id as the answer gives it.
func (cc *CustomersClient) Patch(ctx context.Context, id string, body []byte) (string, error) {
	return cc.send(ctx, http.MethodPatch, cc.paths.Customer, id, body)
}

// CreateSession gives customer id the session value and returns the
// session's id.
func (cc *CustomersClient) CreateSession(ctx context.Context, id, value string) (string, error) {
	body, err := json.Marshal(struct {
		Value string `json:"value"`
	}{value})
	if err != nil {
		return "", fmt.Errorf("contacthub: session body: %w", err)
	}
	return cc.send(ctx, http.MethodPost, cc.paths.Sessions, id, body)
}

// send makes one paced call (paced again when a 403 has it asked once
// more). The route in errors and metrics is the path template, so no
// customer id reaches a metric label.
func (cc *CustomersClient) send(ctx context.Context, method, path, id string, body []byte) (string, error) {
	u := cc.c.url(strings.ReplaceAll(path, "{customerId}", url.PathEscape(id)), nil)
	var out struct {
		ID string `json:"id"`
	}
	err := cc.c.ownCall(ctx, func(ctx context.Context) error {
		if err := cc.c.limiter.Wait(ctx); err != nil {
			return err
		}
		return cc.c.call(ctx, method, u, method+" "+path, body, &out)
	})
	if err != nil {
		return "", err
	}
	return out.ID, nil
}
