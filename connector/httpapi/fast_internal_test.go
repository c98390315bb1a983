package httpapi

import "testing"

// fasthttp reads no proxy variables: with one set, Send goes through
// net/http, which does.
func TestSendUsesNetHTTPBehindAProxy(t *testing.T) {
	for _, v := range proxyVars {
		t.Setenv(v, "")
	}
	if New(Config{API: "test"}).fast == nil {
		t.Fatal("no proxy set, and no fasthttp transport")
	}
	t.Setenv("HTTPS_PROXY", "http://proxy.example:3128")
	if New(Config{API: "test"}).fast != nil {
		t.Fatal("HTTPS_PROXY is set, and Send would bypass the proxy")
	}
}
