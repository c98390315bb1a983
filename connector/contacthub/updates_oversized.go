package contacthub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// oversizedUpdate is what is kept of the one update of a page that is over
// the read limit even at size 1: where it is and what it is about, never
// its data, which is skipped as the answer streams by.
type oversizedUpdate struct {
	nextOffset int64
	// empty: the answer held no update after all.
	empty     bool
	offset    int64
	hasOffset bool
	operation string
	// entityType, id and customerId are the entity's, when the answer
	// gives them (id and customerId from the top level of data).
	entityType, id, customerID string
	// dataBytes is the length of data as it came, when an object or a
	// list.
	dataBytes int64
}

// oversizedUpdate reads the page of size 1 at q, whose answer is over the
// read limit, scanning it as it streams: memory stays bounded by the
// longest single JSON token, not by the answer.
func (c *Client) oversizedUpdate(ctx context.Context, q UpdatesQuery) (*oversizedUpdate, error) {
	q.Size = 1
	if err := c.limiter.Wait(ctx); err != nil {
		return nil, err
	}
	route := "GET " + c.paths.Updates
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(c.paths.Updates, q.values()), nil)
	if err != nil {
		return nil, fmt.Errorf("contacthub: %s: build request: %w", route, err)
	}
	req.Header = c.header(false)
	// The rare path: one answer per update over the limit, so it goes
	// through the plain client, not the pooled-buffer read.
	resp, err := c.http.HTTPClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("contacthub: %s: %w", route, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Retried by the caller; the page call just answered 2xx.
		return nil, fmt.Errorf("contacthub: %s: HTTP %d while reading an update over the read limit", route, resp.StatusCode)
	}
	u, err := scanOversizedPage(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("contacthub: %s: scan an answer over the read limit: %w", route, err)
	}
	return u, nil
}

var errNotPage = errors.New("not an update stream page")

// scanOversizedPage reads a page of one update token by token.
func scanOversizedPage(r io.Reader) (*oversizedUpdate, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	out := &oversizedUpdate{empty: true}
	err := scanObject(dec, func(key json.Token) (err error) {
		switch key {
		case "nextOffset":
			out.nextOffset, _, err = offsetToken(dec)
			return err
		case "updates":
			return scanUpdates(dec, out)
		default:
			return skipValue(dec)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanUpdates reads the updates list, keeping its first update.
func scanUpdates(dec *json.Decoder, out *oversizedUpdate) error {
	if err := expectDelim(dec, '['); err != nil {
		return err
	}
	for dec.More() {
		if !out.empty {
			// Asked for one; more would be the API's error, and
			// the next read asks after this one anyway.
			if err := skipValue(dec); err != nil {
				return err
			}
			continue
		}
		out.empty = false
		if err := scanUpdate(dec, out); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func scanUpdate(dec *json.Decoder, out *oversizedUpdate) error {
	return scanObject(dec, func(key json.Token) (err error) {
		switch key {
		case "offset":
			out.offset, out.hasOffset, err = offsetToken(dec)
		case "operation":
			out.operation, err = stringToken(dec)
		case "entity":
			err = scanEntity(dec, out)
		default:
			err = skipValue(dec)
		}
		return err
	})
}

func scanEntity(dec *json.Decoder, out *oversizedUpdate) error {
	return scanObject(dec, func(key json.Token) (err error) {
		switch key {
		case "type":
			out.entityType, err = stringToken(dec)
		case "data":
			err = scanData(dec, out)
		default:
			err = skipValue(dec)
		}
		return err
	})
}

// scanObject reads an object, handing each key to field, which reads its
// value.
func scanObject(dec *json.Decoder, field func(key json.Token) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

// scanData skips data, keeping its top-level id and customerId strings and
// its length (of an object or a list; the rest is never large).
func scanData(dec *json.Decoder, out *oversizedUpdate) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != json.Delim('{') && t != json.Delim('[') {
		return nil
	}
	start := dec.InputOffset() - 1 // the opening delimiter
	defer func() { out.dataBytes = dec.InputOffset() - start }()
	if t != json.Delim('{') {
		return skipRest(dec, t)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		v, err := dec.Token()
		if err != nil {
			return err
		}
		s, isString := v.(string)
		switch {
		case key == "id" && isString:
			out.id = s
		case key == "customerId" && isString:
			out.customerID = s
		default:
			if err := skipRest(dec, v); err != nil {
				return err
			}
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("%w: %v where %v belongs", errNotPage, t, d)
	}
	return nil
}

// offsetToken reads an offset, or null for none.
func offsetToken(dec *json.Decoder) (int64, bool, error) {
	t, err := dec.Token()
	if err != nil || t == nil {
		return 0, false, err
	}
	n, ok := t.(json.Number)
	if !ok {
		return 0, false, fmt.Errorf("%w: offset %v is not a number", errNotPage, t)
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil || v < 0 {
		return 0, false, fmt.Errorf("%w: offset %s is not an integer from 0", errNotPage, n)
	}
	return v, true, nil
}

// stringToken reads a value, keeping it when it is a string.
func stringToken(dec *json.Decoder) (string, error) {
	t, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, _ := t.(string)
	return s, skipRest(dec, t)
}

func skipValue(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	return skipRest(dec, t)
}

// skipRest skips what is left of the value that began with t.
func skipRest(dec *json.Decoder, t json.Token) error {
	if t != json.Delim('{') && t != json.Delim('[') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}
