package ups

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/contactlab/connector/internal/testkit"
	"github.com/contactlab/connector/schemas"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// shapeDiff lists where got differs from ref in shape: a member missing or
// extra, or a value of another JSON kind. Values themselves may differ.
func shapeDiff(path string, ref, got any) []string {
	switch r := ref.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: object in the reference, %T here", path, got)}
		}
		var diffs []string
		for k, rv := range r {
			gv, ok := g[k]
			if !ok {
				diffs = append(diffs, path+"."+k+": missing")
				continue
			}
			diffs = append(diffs, shapeDiff(path+"."+k, rv, gv)...)
		}
		for k := range g {
			if _, ok := r[k]; !ok {
				diffs = append(diffs, path+"."+k+": not in the reference")
			}
		}
		sort.Strings(diffs)
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: array in the reference, %T here", path, got)}
		}
		if len(g) != len(r) {
			return []string{fmt.Sprintf("%s: %d elements, the reference has %d", path, len(g), len(r))}
		}
		var diffs []string
		for i := range r {
			diffs = append(diffs, shapeDiff(fmt.Sprintf("%s[%d]", path, i), r[i], g[i])...)
		}
		return diffs
	}
	if fmt.Sprintf("%T", ref) != fmt.Sprintf("%T", got) {
		return []string{fmt.Sprintf("%s: %T in the reference, %T here", path, ref, got)}
	}
	return nil
}

func readReference(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference_failed_status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref map[string]any
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	return ref
}

var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// normalizeIDs replaces each random id by its rank of first appearance, so a
// golden file can pin an answer and still show which ids are the same.
func normalizeIDs(b []byte) []byte {
	seen := map[string]string{}
	return uuidPattern.ReplaceAllFunc(b, func(id []byte) []byte {
		if _, ok := seen[string(id)]; !ok {
			seen[string(id)] = fmt.Sprintf("uuid-%d", len(seen)+1)
		}
		return []byte(seen[string(id)])
	})
}

func TestJobStatusMatchesTheReference(t *testing.T) {
	tests := []struct {
		name      string
		failShare float64
		status    string
		levels    []string
		// refShape adapts the reference's failed example to the expected
		// outcome: a completed job has an INFO event where it has ERROR.
		refShape func(map[string]any)
		golden   string
	}{
		{
			name: "failed", failShare: 1, status: "FAILED", levels: []string{"ERROR", "SUMMARY"},
			refShape: func(map[string]any) {},
			golden:   "status_failed.golden.json",
		},
		{
			name: "completed", failShare: 0, status: "COMPLETED", levels: []string{"INFO", "SUMMARY"},
			refShape: func(ref map[string]any) {
				sum := ref["summary"].(map[string]any)
				sum["INFO"] = sum["ERROR"]
				delete(sum, "ERROR")
			},
			golden: "status_completed.golden.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			cfg := testConfig()
			cfg.JobFailShare = tt.failShare
			// The reference's job took 9.41 s; so does this one.
			cfg.JobDuration = 9410 * time.Millisecond
			sb := newSandbox(t, cfg, clock)
			statusTok := sb.token(statusService)
			job := sb.accepted(http.MethodPost, "rr-userattributes", sb.token(attributesService), batch(attrs("u", 1)))

			running := sb.status(statusTok, job.JobID, "showAll=true&rows=5000")
			var ra statusAnswer
			running.decode(t, &ra)
			if ra.Summary.JobStatus != "RUNNING" || len(ra.Result) != 1 || ra.Result[0].Level != "SUMMARY" {
				t.Errorf("while running: %s", running.body)
			}
			if _, _, ok := sb.srv.Stored(schemas.UserAttributes, "u0"); ok {
				t.Error("records are stored before their job ends")
			}

			clock.Advance(cfg.JobDuration)
			a := sb.status(statusTok, job.JobID, "showAll=true&rows=5000")
			if a.status != http.StatusOK {
				t.Fatalf("status: %d %s", a.status, a.body)
			}
			var got map[string]any
			a.decode(t, &got)
			ref := readReference(t)
			tt.refShape(ref)
			for _, d := range shapeDiff("$", ref, got) {
				t.Error(d)
			}

			var sa statusAnswer
			a.decode(t, &sa)
			var levels []string
			for _, r := range sa.Result {
				levels = append(levels, r.Level)
			}
			if sa.Summary.JobStatus != tt.status || sa.Summary.Job.Status != tt.status || !slices.Equal(levels, tt.levels) {
				t.Errorf("status %s/%s, levels %v; want %s, %v", sa.Summary.JobStatus, sa.Summary.Job.Status, levels, tt.status, tt.levels)
			}
			if sa.Summary.JobID != job.JobID || sa.Summary.Job.Attributes.Version != fmt.Sprint(job.Version) {
				t.Errorf("summary names job %s version %s, want %s and %d", sa.Summary.JobID, sa.Summary.Job.Attributes.Version, job.JobID, job.Version)
			}
			_, _, stored := sb.srv.Stored(schemas.UserAttributes, "u0")
			if stored != (tt.status == "COMPLETED") {
				t.Errorf("%s job: stored %v", tt.status, stored)
			}

			var pretty bytes.Buffer
			if err := json.Indent(&pretty, normalizeIDs(a.body), "", "    "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			testkit.Golden(t, filepath.Join("testdata", tt.golden), pretty.Bytes(), *update)
		})
	}
}

func TestJobStatusRefusals(t *testing.T) {
	sb := newSandbox(t, testConfig(), nil)
	statusTok := sb.token(statusService)
	job := sb.accepted(http.MethodPost, "rr-segments", sb.token(attributesService), batch(segs("u", 1)))
	tests := []struct {
		name   string
		path   string
		status int
	}{
		{"known job", "/common-status/v1/608/job/" + job.JobID + "/events", http.StatusOK},
		{"upper-case id", "/common-status/v1/608/job/" + strings.ToUpper(job.JobID) + "/events", http.StatusOK},
		{"unknown job", "/common-status/v1/608/job/a86d0680-01e5-11ee-8080-808080808080/events", http.StatusNotFound},
		{"not a job id", "/common-status/v1/608/job/42/events", http.StatusNotFound},
		{"other apiKey", "/common-status/v1/609/job/" + job.JobID + "/events", http.StatusNotFound},
		{"bad showAll", "/common-status/v1/608/job/" + job.JobID + "/events?showAll=maybe", http.StatusBadRequest},
		{"rows zero", "/common-status/v1/608/job/" + job.JobID + "/events?rows=0", http.StatusBadRequest},
		{"forged page token", "/common-status/v1/608/job/" + job.JobID + "/events?rows=1&pageToken=abc", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb.t = t
			if a := sb.do(http.MethodGet, tt.path, bearer(statusTok), nil); a.status != tt.status {
				t.Errorf("%d %s, want %d", a.status, a.body, tt.status)
			}
		})
	}
}

// The events of a completed job, page by page: the pagination object opens
// the answer, and its token leads to the next page until there is none.
func TestJobStatusPagination(t *testing.T) {
	clock := newFakeClock()
	sb := newSandbox(t, testConfig(), clock)
	statusTok := sb.token(statusService)
	job := sb.accepted(http.MethodPost, "rr-segments", sb.token(attributesService), batch(segs("u", 3)))
	clock.Advance(DefaultJobDuration)

	var levels []string
	query := "showAll=true&rows=1"
	for page := 1; ; page++ {
		a := sb.status(statusTok, job.JobID, query)
		if a.status != http.StatusOK {
			t.Fatalf("page %d: %d %s", page, a.status, a.body)
		}
		if !bytes.HasPrefix(a.body, []byte(`{"pagination":`)) {
			t.Errorf("page %d does not open with the pagination: %.60s", page, a.body)
		}
		var sa statusAnswer
		a.decode(t, &sa)
		if sa.Pagination == nil || sa.Pagination.Rows != len(sa.Result) || len(sa.Result) != 1 {
			t.Fatalf("page %d: pagination %+v with %d events", page, sa.Pagination, len(sa.Result))
		}
		if sa.Summary.TotalEvents != 2 {
			t.Errorf("page %d: total-events %d, want 2 (every page counts them all)", page, sa.Summary.TotalEvents)
		}
		levels = append(levels, sa.Result[0].Level)
		if sa.Pagination.NextPageToken == "" {
			break
		}
		if page > 2 {
			t.Fatal("pagination does not end")
		}
		query = "showAll=true&rows=1&pageToken=" + sa.Pagination.NextPageToken
	}
	if want := []string{"INFO", "SUMMARY"}; !slices.Equal(levels, want) {
		t.Errorf("events %v across the pages, want %v (newest first)", levels, want)
	}

	tests := []struct {
		name       string
		query      string
		paginated  bool
		wantLevels []string
	}{
		{"rows cover every event", "showAll=true&rows=2", false, []string{"INFO", "SUMMARY"}},
		{"no rows", "showAll=true", false, []string{"INFO", "SUMMARY"}},
		// Without showAll, only what a client acts on.
		{"no showAll", "", false, []string{"SUMMARY"}},
		{"showAll=false, rows=1", "showAll=false&rows=1", false, []string{"SUMMARY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sb.t = t
			var sa statusAnswer
			sb.status(statusTok, job.JobID, tt.query).decode(t, &sa)
			var got []string
			for _, r := range sa.Result {
				got = append(got, r.Level)
			}
			if (sa.Pagination != nil) != tt.paginated || !slices.Equal(got, tt.wantLevels) {
				t.Errorf("pagination %+v, events %v; want paginated %v, events %v", sa.Pagination, got, tt.paginated, tt.wantLevels)
			}
		})
	}
}

// The stored value is the one of the latest accepted job that completed:
// records apply when their job ends, in acceptance order, and a failed job
// applies nothing.
func TestStoredFollowsTheLatestCompletedJob(t *testing.T) {
	tests := []struct {
		name        string
		fails       []bool // per job, in acceptance order
		wantValue   string // "" means nothing stored
		wantUpdates int
	}{
		{"both complete", []bool{false, false}, "second", 2},
		{"the later fails", []bool{false, true}, "first", 1},
		{"the earlier fails", []bool{true, false}, "second", 1},
		{"both fail", []bool{true, true}, "", 0},
		{"three, the middle fails", []bool{false, true, false}, "third", 2},
	}
	names := []string{"first", "second", "third"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			sb := newSandbox(t, testConfig(), clock)
			decisions := slices.Clone(tt.fails)
			sb.srv.jobs.fails = func() bool {
				d := decisions[0]
				decisions = decisions[1:]
				return d
			}
			tok := sb.token(attributesService)
			var versions []int64
			for i := range tt.fails {
				// All in the same millisecond: versions must still order them.
				aa := sb.accepted(http.MethodPost, "rr-userattributes", tok, batch([]rec{{UserID: "same-user", Value: map[string]any{"job": []string{names[i]}}}}))
				versions = append(versions, aa.Version)
			}
			if !slices.IsSorted(versions) || len(slices.Compact(slices.Clone(versions))) != len(versions) {
				t.Errorf("versions %v are not strictly increasing", versions)
			}
			clock.Advance(DefaultJobDuration)
			got, updates, ok := sb.srv.Stored(schemas.UserAttributes, "same-user")
			if tt.wantValue == "" {
				if ok {
					t.Errorf("Stored = %s, %d; want nothing", got, updates)
				}
				return
			}
			want := fmt.Sprintf(`{"job":[%q]}`, tt.wantValue)
			if !ok || string(got) != want || updates != tt.wantUpdates {
				t.Errorf("Stored = %s, %d, %v; want %s, %d, true", got, updates, ok, want, tt.wantUpdates)
			}
		})
	}
}

// Jobs end in acceptance order today, but the store must not depend on it:
// an older job never overwrites a newer one's value.
func TestStoreKeepsTheNewestVersion(t *testing.T) {
	vs := newValueStore()
	vs.apply(schemas.Segments, 2, []schemas.UPSRecord{{UserID: "u", Value: json.RawMessage(`{"v":"new"}`)}})
	vs.apply(schemas.Segments, 1, []schemas.UPSRecord{{UserID: "u", Value: json.RawMessage(`{"v":"old"}`)}})
	// Within one job the user's later record wins.
	vs.apply(schemas.Segments, 3, []schemas.UPSRecord{
		{UserID: "w", Value: json.RawMessage(`{"v":"a"}`)},
		{UserID: "w", Value: json.RawMessage(`{"v":"b"}`)},
	})
	tests := []struct {
		user, value string
		updates     int
	}{{"u", `{"v":"new"}`, 2}, {"w", `{"v":"b"}`, 2}}
	for _, tt := range tests {
		got, updates, ok := vs.get(schemas.Segments, tt.user)
		if !ok || string(got) != tt.value || updates != tt.updates {
			t.Errorf("%s: %s, %d, %v; want %s, %d", tt.user, got, updates, ok, tt.value, tt.updates)
		}
	}
	if cs := vs.collectionStats()["rr-segments"]; cs.Users != 2 || cs.Updates != 4 {
		t.Errorf("collection stats %+v, want 2 users, 4 updates", cs)
	}
}

// Job memory is bounded: ended jobs are forgotten after the retention, and
// beyond the cap the oldest go first.
func TestJobsAreForgotten(t *testing.T) {
	clock := newFakeClock()
	sb := newSandbox(t, testConfig(), clock)
	sb.srv.jobs.maxJobs = 2
	tok, statusTok := sb.token(attributesService), sb.token(statusService)
	var ids []string
	for range 3 {
		ids = append(ids, sb.accepted(http.MethodPost, "rr-segments", tok, batch(segs("u", 1))).JobID)
	}
	clock.Advance(DefaultJobDuration)
	want := []int{http.StatusNotFound, http.StatusOK, http.StatusOK}
	for i, id := range ids {
		if a := sb.status(statusTok, id, ""); a.status != want[i] {
			t.Errorf("job %d of 3 beyond a cap of 2: %d, want %d", i, a.status, want[i])
		}
	}
	clock.Advance(jobRetention)
	if a := sb.status(statusTok, ids[2], ""); a.status != http.StatusOK {
		t.Errorf("job at the end of its retention: %d, want 200", a.status)
	}
	clock.Advance(time.Millisecond)
	if a := sb.status(sb.token(statusService), ids[2], ""); a.status != http.StatusNotFound {
		t.Errorf("job past its retention: %d, want 404", a.status)
	}
	if st := sb.srv.Stats(); st.Jobs != 3 {
		t.Errorf("stats count %d jobs, want 3 (forgetting a job does not unhappen it)", st.Jobs)
	}
}

// With the real clock, a job completes on its own after JobDuration.
func TestJobCompletesInRealTime(t *testing.T) {
	cfg := testConfig()
	cfg.JobDuration = 20 * time.Millisecond
	sb := newSandbox(t, cfg, nil)
	statusTok := sb.token(statusService)
	job := sb.accepted(http.MethodPost, "rr-userpreferences", sb.token(attributesService),
		batch([]rec{{UserID: "u", Value: map[string]any{"like": []string{"prod102710181y"}}}}))
	testkit.WaitFor(t, 5*time.Second, "the job to complete", func() (bool, string) {
		var sa statusAnswer
		sb.status(statusTok, job.JobID, "").decode(t, &sa)
		return sa.Summary.JobStatus == "COMPLETED", sa.Summary.JobStatus
	})
	if _, updates, ok := sb.srv.Stored(schemas.UserPreferences, "u"); !ok || updates != 1 {
		t.Errorf("after completion: stored %v, %d updates", ok, updates)
	}
}

func TestUUID(t *testing.T) {
	for range 100 {
		u := newUUID()
		s := u.String()
		if !uuidPattern.MatchString(s) || s[14] != '4' || !strings.ContainsRune("89ab", rune(s[19])) {
			t.Fatalf("%s is not a version 4 uuid", s)
		}
		if back, ok := parseUUID(s); !ok || back != u {
			t.Fatalf("parseUUID(%s) = %v, %v", s, back, ok)
		}
	}
	for _, bad := range []string{"", "a86d0680-01e5-11ee-8080-80808080808", "a86d0680x01e5-11ee-8080-808080808080", "g86d0680-01e5-11ee-8080-808080808080"} {
		if _, ok := parseUUID(bad); ok {
			t.Errorf("parseUUID(%q) accepted", bad)
		}
	}
}
