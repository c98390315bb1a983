package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Binaries are the programs a run starts, built once per make bench.
type Binaries struct {
	Connector, Broker, Sandbox, Floor string
}

// Build compiles cmd/connector, cmd/broker, cmd/sandbox and bench/floor
// into dir with one go build (so they share its cache and its work), as
// they would be shipped: no race detector, no test code.
func Build(ctx context.Context, dir string) (Binaries, error) {
	const mod = "github.com/contactlab/connector/"
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		mod+"cmd/connector", mod+"cmd/broker", mod+"cmd/sandbox", mod+"bench/floor")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return Binaries{
		Connector: filepath.Join(dir, "connector"),
		Broker:    filepath.Join(dir, "broker"),
		Sandbox:   filepath.Join(dir, "sandbox"),
		Floor:     filepath.Join(dir, "floor"),
	}, nil
}

// freeAddr is a loopback address nothing listens on right now. Another
// process could take it before the child binds it; the child then fails to
// start and the run says so.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitFor polls cond every interval until it holds, the process dies or
// timeout passes. cond's text says where things stand, for the error.
func waitFor(ctx context.Context, p *Proc, timeout, interval time.Duration, what string, cond func(context.Context) (bool, string, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	var lastErr error
	for {
		ok, state, err := cond(ctx)
		if err == nil && ok {
			return nil
		}
		if state != "" && err == nil {
			last = state
		}
		lastErr = err
		if p != nil {
			if dead, perr := p.Exited(); dead {
				return p.failure("exited while waiting for "+what, perr)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting %s for %s: %w (last: %s; error: %v)", timeout, what, ctx.Err(), last, lastErr)
		case <-time.After(interval):
		}
	}
}

// cluster is a broker and a sandbox process, fresh for each run so that no
// run meets another's data.
type cluster struct {
	broker, sandbox *Proc
	brokerAddr      string
	sandboxURL      string
}

// connectorConfig is a connector config on c's broker that logs warnings
// only, followed by rest: the API sections and sinks of a run.
func connectorConfig(c *cluster, rest string) string {
	return fmt.Sprintf("kafka:\n  brokers: [%q]\nlog:\n  level: warn\n", c.brokerAddr) + rest
}

// startCluster starts cmd/broker with topics of partitions partitions and
// cmd/sandbox with sandboxArgs (its update-stream generator off), and
// waits until both answer.
func startCluster(ctx context.Context, bin Binaries, partitions int, topics []string, sandboxArgs ...string) (*cluster, error) {
	c := &cluster{}
	var err error
	if c.brokerAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	c.broker, err = start("broker", bin.Broker, "-addr", c.brokerAddr, "-partitions", strconv.Itoa(partitions), "-topics", strings.Join(topics, ","))
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, c.broker, 30*time.Second, 50*time.Millisecond, "the broker", func(ctx context.Context) (bool, string, error) {
		err := brokerReady(ctx, c.brokerAddr, topics)
		return err == nil, "", err
	}); err != nil {
		c.close()
		return nil, err
	}
	sbAddr, err := freeAddr()
	if err != nil {
		c.close()
		return nil, err
	}
	c.sandboxURL = "http://" + sbAddr
	c.sandbox, err = start("sandbox", bin.Sandbox, append([]string{"-addr", sbAddr, "-changes-per-second", "0"}, sandboxArgs...)...)
	if err != nil {
		c.close()
		return nil, err
	}
	if err := waitFor(ctx, c.sandbox, 30*time.Second, 50*time.Millisecond, "the sandbox", func(ctx context.Context) (bool, string, error) {
		var st map[string]any
		err := getJSON(ctx, c.sandboxURL+"/_sandbox/contacthub/stats", &st)
		return err == nil, "", err
	}); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// close stops the sandbox and the broker; their exit status is not part of
// any figure.
func (c *cluster) close() {
	for _, p := range []*Proc{c.sandbox, c.broker} {
		if p != nil {
			if err := p.Stop(10 * time.Second); err != nil {
				p.Kill()
			}
		}
	}
}

// contacthubAccepted is how many events the sandbox's Contacthub accepted.
func (c *cluster) contacthubAccepted(ctx context.Context) (int64, error) {
	var st struct {
		Accepted int64 `json:"accepted"`
	}
	err := getJSON(ctx, c.sandboxURL+"/_sandbox/contacthub/stats", &st)
	return st.Accepted, err
}

// upsStats is the part of the sandbox UPS's stats the runs read.
type upsStats struct {
	Requests        int64   `json:"requests"`
	Accepted        int64   `json:"accepted"`
	RecordsAccepted int64   `json:"records_accepted"`
	Throttled429    int64   `json:"throttled_429"`
	MeanFillRecords float64 `json:"mean_fill_records"`
	MeanBodyBytes   float64 `json:"mean_body_bytes"`
}

func (c *cluster) ups(ctx context.Context) (upsStats, error) {
	var st upsStats
	err := getJSON(ctx, c.sandboxURL+"/_sandbox/ups/stats", &st)
	return st, err
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Decoded whatever the status: a 503 from /readyz says why in JSON.
	derr := json.NewDecoder(resp.Body).Decode(v)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if derr != nil {
		return fmt.Errorf("GET %s: %w", url, derr)
	}
	return nil
}

// startConnector writes doc to a config file in dir, runs cmd/connector on
// it and waits until its /readyz answers 200. It returns the process and
// its ops address. doc leaves the http section to the harness, which
// listens on a free port and adds httpExtra (indented keys) there.
func startConnector(ctx context.Context, bin Binaries, dir, httpExtra, doc string) (*Proc, string, error) {
	ops, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	doc = fmt.Sprintf("http:\n  listen: %q\n%s", ops, httpExtra) + doc
	path := filepath.Join(dir, "connector.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		return nil, "", err
	}
	p, err := start("connector", bin.Connector, "run", "-config", path)
	if err != nil {
		return nil, "", err
	}
	if err := waitFor(ctx, p, 60*time.Second, 50*time.Millisecond, "the connector's /readyz", func(ctx context.Context) (bool, string, error) {
		var st struct {
			Ready    bool              `json:"ready"`
			NotReady map[string]string `json:"not_ready"`
		}
		err := getJSON(ctx, "http://"+ops+"/readyz", &st)
		var why string
		if len(st.NotReady) > 0 {
			why = fmt.Sprint(st.NotReady)
		}
		if err != nil && st.NotReady != nil {
			err = nil // a 503 that says why is an answer, not a failure
		}
		return st.Ready, why, err
	}); err != nil {
		p.Kill()
		return nil, "", err
	}
	return p, ops, nil
}

// fetch writes what GET url answers to the file path.
func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No client timeout: a CPU profile takes as long as it was asked to.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return f.Close()
}
