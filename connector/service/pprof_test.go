package service_test

import (
	"net/http"
	"testing"

	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
)

// http.pprof serves the profiles make profile reads, and only when set: a
// profile costs CPU and shows the program's internals.
func TestPProfOnlyWhenConfigured(t *testing.T) {
	kb := newTestKafka(t, kindKfake)
	kb.start(t, 1, "web.events")
	sb := sandboxtest.Start(t, nil)
	for _, tc := range []struct {
		pprof bool
		want  int
	}{
		{false, http.StatusNotFound},
		{true, http.StatusOK},
	} {
		cfg := eventsConfig(t, kb, sb, "")
		cfg.HTTP.PProf = tc.pprof
		svc, err := service.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		stop := runService(t, svc)
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/allocs", "/debug/pprof/heap"} {
			resp, err := http.Get("http://" + svc.Addr() + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("pprof %v: GET %s = %d, want %d", tc.pprof, path, resp.StatusCode, tc.want)
			}
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}
