package service_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"gopkg.in/yaml.v3"

	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/connector/service"
	"github.com/contactlab/connector/schemas"
	"github.com/contactlab/connector/streams/streamstest"
)

const (
	dashboardFile = "../../deploy/grafana-dashboard.json"
	alertsFile    = "../../deploy/alerts.yaml"
)

// metricRef is a PromQL expression of the deploy artefacts and where it is.
type metricRef struct {
	expr, where string
}

// metricNameRE finds the connector's, the process collector's and the Go
// collector's metric names in PromQL. Names of other exporters (up,
// kube_pod_status_ready) are not the connector's to export.
var metricNameRE = regexp.MustCompile(`\b(connector|process|go)_[a-z0-9_]+\b`)

// TestDeployArtifacts keeps deploy/grafana-dashboard.json and
// deploy/alerts.yaml honest: both are well formed, and every metric their
// expressions name is exported on /metrics by a service that runs every
// sink type and the update stream source.
func TestDeployArtifacts(t *testing.T) {
	var refs []metricRef
	t.Run("dashboard", func(t *testing.T) { refs = append(refs, checkDashboard(t)...) })
	t.Run("alerts", func(t *testing.T) { refs = append(refs, checkAlerts(t)...) })
	if t.Failed() {
		return
	}
	wanted := map[string][]string{} // metric name -> where it is referenced
	for _, r := range refs {
		for _, name := range metricNameRE.FindAllString(r.expr, -1) {
			if !slices.Contains(wanted[name], r.where) {
				wanted[name] = append(wanted[name], r.where)
			}
		}
	}
	if len(wanted) < 30 {
		t.Fatalf("only %d metric names found in the artefacts: %v", len(wanted), wanted)
	}

	svc := startEveryUnit(t)
	var exported map[string]bool
	streamstest.WaitFor(t, 10*time.Second, "every metric the deploy artefacts name to be exported", func() (bool, string) {
		exported = scrapeNames(t, "http://"+svc.Addr()+"/metrics")
		var missing []string
		for name, where := range wanted {
			if !isExported(exported, name) {
				missing = append(missing, fmt.Sprintf("\n  %s, referenced by %s", name, strings.Join(where, "; ")))
			}
		}
		sort.Strings(missing)
		return len(missing) == 0, fmt.Sprintf("%d metric names not on /metrics:%s", len(missing), strings.Join(missing, ""))
	})

	// The other way round, for information: connector families no
	// artefact shows.
	var unshown []string
	for name := range exported {
		if strings.HasPrefix(name, "connector_") && len(wanted[name]) == 0 && len(wanted[histogramFamily(name)]) == 0 &&
			len(wanted[histogramFamily(name)+"_bucket"]) == 0 {
			unshown = append(unshown, name)
		}
	}
	sort.Strings(unshown)
	t.Logf("%d metric names referenced, all exported; connector series no artefact uses: %v", len(wanted), unshown)
}

// isExported reports whether name is a sample name on /metrics, or a
// histogram family whose _bucket samples are.
func isExported(exported map[string]bool, name string) bool {
	return exported[name] || exported[name+"_bucket"]
}

// histogramFamily strips a histogram sample suffix.
func histogramFamily(name string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if n, ok := strings.CutSuffix(name, s); ok {
			return n
		}
	}
	return name
}

// scrapeNames returns the sample names of a text-format /metrics page.
func scrapeNames(t *testing.T, u string) map[string]bool {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// checkDashboard checks the dashboard's structure and returns its
// expressions: panel queries and template variable queries.
func checkDashboard(t *testing.T) []metricRef {
	raw, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	}
	type panel struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		GridPos struct {
			H, W, X, Y int
		} `json:"gridPos"`
		Datasource json.RawMessage `json:"datasource"`
		Targets    []target        `json:"targets"`
		Panels     []panel         `json:"panels"`
	}
	type variable struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Query      json.RawMessage `json:"query"`
		Definition string          `json:"definition"`
		Datasource json.RawMessage `json:"datasource"`
	}
	var d struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []variable `json:"list"`
		} `json:"templating"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.SchemaVersion != 39 || d.Title == "" || d.UID == "" {
		t.Errorf("schemaVersion %d, title %q, uid %q: want 39 and both set", d.SchemaVersion, d.Title, d.UID)
	}
	isOurDatasource := func(raw json.RawMessage) bool {
		var ds struct{ Type, UID string }
		return json.Unmarshal(raw, &ds) == nil && ds.Type == "prometheus" && ds.UID == "${datasource}"
	}

	var refs []metricRef
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
		if v.Type != "query" {
			continue
		}
		if !isOurDatasource(v.Datasource) {
			t.Errorf("variable %s: datasource %s, want prometheus ${datasource}", v.Name, v.Datasource)
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
		}
		if q.Query == "" || q.Query != v.Definition {
			t.Errorf("variable %s: query %q and definition %q must be equal and set", v.Name, q.Query, v.Definition)
		}
		refs = append(refs, metricRef{q.Query, "variable $" + v.Name})
	}
	if v := vars["datasource"]; v.Type != "datasource" || string(v.Query) != `"prometheus"` {
		t.Errorf("no Prometheus datasource variable: %+v", v)
	}
	if v := vars["pipeline"]; v.Definition != "label_values(connector_pipeline_records_consumed_total, pipeline)" {
		t.Errorf("pipeline variable %+v", v)
	}

	ids := map[int]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("dashboard panel %q", p.Title)
			if p.Title == "" || p.ID == 0 || ids[p.ID] != "" {
				t.Errorf("%s: id %d (also %s), title %q: want a title and a unique id", where, p.ID, ids[p.ID], p.Title)
			}
			ids[p.ID] = p.Title
			if g := p.GridPos; g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v off the 24-column grid", where, g)
			}
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if !isOurDatasource(p.Datasource) || len(p.Targets) == 0 {
				t.Errorf("%s: datasource %s, %d targets: want prometheus ${datasource} and a query", where, p.Datasource, len(p.Targets))
			}
			refIDs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.RefID == "" || refIDs[tg.RefID] || !isOurDatasource(tg.Datasource) {
					t.Errorf("%s: target %+v: want a unique refId and the ${datasource} datasource", where, tg)
				}
				refIDs[tg.RefID] = true
				if err := promQLBalanced(tg.Expr); err != nil {
					t.Errorf("%s: %q: %v", where, tg.Expr, err)
				}
				refs = append(refs, metricRef{tg.Expr, where})
			}
		}
	}
	walk(d.Panels)
	return refs
}

// alertRules is a Prometheus rule file.
type alertRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	promDurationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	byClauseRE     = regexp.MustCompile(`\bby\s*\(([^)]*)\)`)
	labelRefRE     = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// checkAlerts checks the rule file's structure and returns its expressions.
func checkAlerts(t *testing.T) []metricRef {
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f alertRules
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	if len(f.Groups) != 1 || f.Groups[0].Name != "connector" || len(f.Groups[0].Rules) == 0 {
		t.Fatalf("want one group named connector with rules, got %+v", f.Groups)
	}
	var refs []metricRef
	seen := map[string]bool{}
	for i, r := range f.Groups[0].Rules {
		where := "alert " + r.Alert
		if r.Alert == "" || seen[r.Alert] {
			t.Errorf("rule %d: alert name %q missing or repeated", i, r.Alert)
		}
		seen[r.Alert] = true
		if strings.TrimSpace(r.Expr) == "" {
			t.Errorf("%s: no expr", where)
		}
		if err := promQLBalanced(r.Expr); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		if !promDurationRE.MatchString(r.For) {
			t.Errorf("%s: for %q is not a Prometheus duration", where, r.For)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
			t.Errorf("%s: labels.severity %q, want critical, warning or info", where, s)
		}
		if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
			t.Errorf("%s: annotations %v: want summary and description", where, r.Annotations)
		}
		// An aggregated expression keeps only its by() labels: the
		// annotations may not name others.
		if by := byClauseRE.FindAllStringSubmatch(r.Expr, -1); len(by) > 0 {
			kept := map[string]bool{}
			for _, m := range by {
				for _, l := range strings.Split(m[1], ",") {
					kept[strings.TrimSpace(l)] = true
				}
			}
			for _, a := range r.Annotations {
				for _, m := range labelRefRE.FindAllStringSubmatch(a, -1) {
					if !kept[m[1]] {
						t.Errorf("%s: annotations use $labels.%s, which the expression aggregates away", where, m[1])
					}
				}
			}
		}
		refs = append(refs, metricRef{r.Expr, where})
	}
	return refs
}

// promQLBalanced is a cheap syntax check: brackets pair up outside strings.
func promQLBalanced(expr string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inString := false
	for i, c := range expr {
		switch {
		case inString:
			if c == '"' && (i == 0 || expr[i-1] != '\\') {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return fmt.Errorf("unbalanced %q at %d", c, i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if inString || len(stack) > 0 {
		return fmt.Errorf("unclosed %q", string(stack))
	}
	return nil
}

// startEveryUnit runs a service with a sink of each type and the update
// stream source against the sandbox, and feeds it so that every labelled
// collector has children: a valid and an invalid record per sink, a 401
// and so a pause and a retry on the events sink, an EnableNow job the
// monitor gives up on, and an invalid update on the stream.
func startEveryUnit(t *testing.T) *service.Service {
	t.Helper()
	const eventsTopic, upsTopic = "web.events", "profiles.attributes"
	broker := streamstest.Broker(t, 1, eventsTopic, upsTopic, requestsTopic)
	sb := sandboxtest.Start(t, func(c *sandbox.Config) {
		c.UPS.JobDuration = 20 * time.Millisecond
		c.EnableNow.StepInterval = time.Minute // no job ends: the monitor gives up
	})
	hub := contacthubFaults(t, sb)

	events, _, badEvents := makeEvents(2, 1)
	streamstest.Produce(t, broker, eventsTopic, events...)
	streamstest.Produce(t, broker, upsTopic, upsRecords(2, 1)...)
	requests, _ := makeRequests(2, 1)
	streamstest.Produce(t, broker, requestsTopic, requests...)
	if len(badEvents) != 1 {
		t.Fatalf("%d invalid events", len(badEvents))
	}

	doc := fmt.Sprintf(`
kafka:
  brokers: [%q]
  partitions: 1
  session_timeout: 2s
  heartbeat_interval: 200ms
http:
  listen: "127.0.0.1:0"
log:
  level: error
%s%s  status_poll_interval: 20ms
%s  timeout: 5s
sinks:
  - name: events
    type: contacthub-events
    topics: [%s]
    retry: {initial: 5ms, max: 100ms}
  - name: attributes
    type: ups
    topics: [%s]
    retry: {initial: 5ms, max: 100ms}
    ups:
      collection: %s
  - name: categorize
    type: enablenow
    topics: [%s]
    retry: {initial: 5ms, max: 100ms}
    enablenow:
      monitor_jobs: true
      poll_interval: 20ms
      monitor_timeout: 100ms
sources:
  - name: updates
    type: contacthub-updates
    page_size: 50
    poll_interval: 20ms
    retry: {initial: 5ms, max: 100ms}
`, broker,
		sandbox.ContacthubSection(hub), sandbox.UPSSection(sb.URL(), sandbox.UPSClientSecret), sandbox.EnableNowSection(sb.URL()),
		eventsTopic, upsTopic, schemas.UserAttributes, requestsTopic)
	cfg := parseConfig(t, doc)
	svc := startService(t, cfg)
	streamstest.WaitFor(t, 15*time.Second, "every sink to deliver 2 records and dead-letter 1, the events sink after a retry", func() (bool, string) {
		counts := svc.Counts()
		for _, p := range []string{"events", "attributes", "categorize"} {
			if c := counts[p]; c.Delivered < 2 || c.DeadLettered < 1 {
				return false, fmt.Sprint(counts)
			}
		}
		return counts["events"].Retries > 0, fmt.Sprint(counts)
	})
	return svc
}

// upsRecords returns valid and invalid UPS records of one collection.
func upsRecords(valid, invalid int) []kafka.Message {
	g := demo.NewUPSTraffic(11, 50, schemas.UserAttributes)
	var msgs []kafka.Message
	for _, share := range []float64{0, 1} {
		g.InvalidShare = share
		want := len(msgs) + valid
		if share == 1 {
			want = len(msgs) + invalid
		}
		for len(msgs) < want {
			k, v, ok := g.Next()
			if ok == (share == 0) {
				msgs = append(msgs, kafka.Message{Key: k, Value: v})
			}
		}
	}
	return msgs
}

// contacthubFaults serves the sandbox's Contacthub through a proxy that
// answers the first event POST with 401 (a pause, then a retry) and makes
// the first update of the first non-empty page of the update stream
// invalid (an unknown operation: skipped and dead-lettered). It returns the
// proxy's URL, to which the sandbox's paths are relative.
func contacthubFaults(t *testing.T, sb *sandbox.Sandbox) string {
	t.Helper()
	target, err := url.Parse(sb.URL())
	if err != nil {
		t.Fatal(err)
	}
	var posts atomic.Int64
	var corrupted atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.Method != http.MethodGet || !strings.HasSuffix(resp.Request.URL.Path, "/updates") ||
			resp.StatusCode != http.StatusOK || corrupted.Load() {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var page schemas.StreamPage
		if err := json.Unmarshal(body, &page); err != nil {
			return err
		}
		if len(page.Updates) > 0 && corrupted.CompareAndSwap(false, true) {
			page.Updates[0].Operation = "MERGE"
			if body, err = json.Marshal(page); err != nil {
				return err
			}
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/events") && posts.Add(1) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"test proxy: token rejected once"}`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
