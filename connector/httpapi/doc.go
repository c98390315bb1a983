// Package httpapi is the HTTP layer every API client shares: pooled
// keep-alive connections, per-request timeouts, request metrics by API and
// status class, error bodies parsed into messages, and the single decision of
// which failures are retryable. Do goes through net/http; Send, for calls
// whose body and answer are small, through fasthttp, at about half the CPU
// per call, with the same answers and errors.
//
// A non-2xx answer becomes a *StatusError, which answers errors.Is with the
// streams sentinels: ErrUnauthorized for 401/403, ErrRejected for other 4xx
// except 408 and 429; everything else (408, 429, 5xx, network errors,
// timeouts) is retryable. It must not know any particular API's paths or
// payloads, and it never puts credentials or query strings in errors, logs or
// metric labels: errors name the route template the caller gives.
package httpapi
