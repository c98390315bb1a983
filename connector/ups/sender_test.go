package ups

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/contactlab/connector/connector/httpapi"
	"github.com/contactlab/connector/streams/delivery"
)

func TestJudgeAnswers(t *testing.T) {
	status := func(code int) error {
		return &httpapi.StatusError{API: "ups", Route: "POST " + DefaultPaths().Enrich, Status: code}
	}
	token := func(code int) error { return &TokenError{Route: "POST " + attributesTokenPath, Status: code} }
	for _, tc := range []struct {
		name    string
		records int
		err     error
		want    answer
	}{
		{"accepted", 1000, nil, answerAccepted},
		{"429 requeues and slows the pacer", 1000, status(429), answerThrottled},
		{"429 of one record too", 1, status(429), answerThrottled},
		{"429 found through wrapping", 10, fmt.Errorf("collection rr-segments: %w", status(429)), answerThrottled},
		{"413 splits", 2, status(413), answerSplit},
		{"413 of one record is too_large", 1, status(413), answerTooLarge},
		{"400 bisects", 600, status(400), answerBisect},
		{"400 of one record rejects it", 1, status(400), answerRejected},
		{"422 rejects the whole request", 10, status(422), answerRejected},
		{"404 rejects", 10, status(404), answerRejected},
		{"401 after the renewal pauses", 10, status(401), answerUnauthorized},
		{"403 pauses", 10, status(403), answerUnauthorized},
		// A token endpoint's 400 (invalid_grant) is the credential, never the
		// records: bisecting on it would send every record alone.
		{"token 400 pauses, never bisects", 1000, token(400), answerUnauthorized},
		{"token 401 pauses", 1000, token(401), answerUnauthorized},
		// Only the enrichment service's 429 says our pace is too high.
		{"token 429 is retried, the pace kept", 1000, token(429), answerRetry},
		{"token 503 is retried", 1000, token(503), answerRetry},
		{"408 is retried", 10, status(408), answerRetry},
		{"500 is retried", 10, status(500), answerRetry},
		{"503 is retried", 10, status(503), answerRetry},
		{"network error is retried", 10, &httpapi.NetError{API: "ups", Route: "POST " + DefaultPaths().Enrich, Err: errors.New("connection reset by peer")}, answerRetry},
		{"accepted without a job is retried", 10, errors.New("ups: accepted answer without a jobId"), answerRetry},
		{"a stop is retried", 10, context.Canceled, answerRetry},
		{"a sink's own rejection", 10, delivery.Reject("rejected", errors.New("x")), answerRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := judge(tc.records, tc.err); got != tc.want {
				t.Fatalf("judge(%d, %v) = %s (%d), want %s (%d)", tc.records, tc.err, got, got, tc.want, tc.want)
			}
		})
	}
}
