package ups

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// defaultRows is the page size of the status service when rows is not given.
const defaultRows = 5000

// The status answer, field for field the reference's "Failed Status"
// example; the field order is the example's too, so a diff against it reads
// well.
type (
	statusAnswer struct {
		// Pagination comes first, as the reference says it does.
		Pagination *pagination    `json:"pagination,omitempty"`
		Summary    statusSummary  `json:"summary"`
		Result     []statusRecord `json:"result"`
	}
	pagination struct {
		Rows          int    `json:"rows"`
		NextPageToken string `json:"nextPageToken,omitempty"`
	}
	owner struct {
		OwnerType string `json:"ownerType"`
		ID        int64  `json:"id"`
	}
	// statusSummary counts the events of each level under the level's own
	// name; a level without events is left out, as in the reference.
	statusSummary struct {
		Owner       owner     `json:"owner"`
		JobID       string    `json:"job-id"`
		JobStatus   string    `json:"job-status"`
		JobBatches  int       `json:"job-batches"`
		JobTasks    int       `json:"job-tasks"`
		TotalEvents int       `json:"total-events"`
		QueryParam  string    `json:"query-param"`
		Error       int       `json:"ERROR,omitempty"`
		Info        int       `json:"INFO,omitempty"`
		Summary     int       `json:"SUMMARY,omitempty"`
		Job         jobDetail `json:"job"`
	}
	appID struct {
		AppType string `json:"appType"`
		ID      int    `json:"id"`
	}
	jobDetail struct {
		Owner        owner           `json:"owner"`
		JobID        string          `json:"jobId"`
		AppID        appID           `json:"appId"`
		Batches      int             `json:"batches"`
		Tasks        int             `json:"tasks"`
		Name         string          `json:"name"`
		ChildJobs    int             `json:"childJobs"`
		RootSource   string          `json:"rootSource"`
		Apps         []string        `json:"apps"`
		Datacenters  []string        `json:"datacenters"`
		Attributes   eventAttributes `json:"attributes"`
		Restarts     int             `json:"restarts"`
		Status       string          `json:"status"`
		JobCreated   string          `json:"jobCreated"`
		LastModified string          `json:"lastModified"`
		Duration     string          `json:"duration"`
	}
	eventAttributes struct {
		EventSource string `json:"eventSource"`
		EventDest   string `json:"eventDest"`
		LoadType    string `json:"loadType"`
		APIKey      string `json:"apiKey"`
		Version     string `json:"version"`
		HTTPStatus  string `json:"httpStatus,omitempty"`
		Message     string `json:"message,omitempty"`
		Type        string `json:"type"`
	}
	statusRecord struct {
		TaskID     string          `json:"taskId"`
		StatusID   string          `json:"statusId"`
		Batch      int             `json:"batch"`
		Type       string          `json:"type"`
		Message    string          `json:"message"`
		Level      string          `json:"level"`
		Attributes eventAttributes `json:"attributes"`
		Source     string          `json:"source"`
		Datacenter string          `json:"datacenter"`
		Timestamp  string          `json:"timestamp"`
	}
)

// writeFailedMessage is the reference's failure text, so a client that logs
// or matches it sees what production sends.
const writeFailedMessage = "Failed to update data to cassandra: com.rr.ups.attribute.api.common.exception.AttributeApiProcessException: java.lang.RuntimeException: AttributesApiWriter aborting due to error"

// Like the reference, the API server's events come from one datacenter and
// the batch writer's from another.
const (
	appSource        = "attributes-api-process"
	serverDatacenter = "sandbox1"
	writerDatacenter = "sandbox2"
)

// statusQuery is the parsed query string of a status request.
type statusQuery struct {
	showAll   bool
	rows      int
	paged     bool // rows was given
	offset    int
	pageToken string
}

func parseStatusQuery(r *http.Request) (statusQuery, error) {
	q := r.URL.Query()
	sq := statusQuery{rows: defaultRows}
	if v := q.Get("showAll"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return sq, fmt.Errorf("showAll must be true or false, not %q", v)
		}
		sq.showAll = b
	}
	if v := q.Get("rows"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return sq, fmt.Errorf("rows must be a positive integer, not %q", v)
		}
		sq.rows, sq.paged = n, true
	}
	if v := q.Get("pageToken"); v != "" {
		off, ok := decodePageToken(v)
		if !ok {
			return sq, fmt.Errorf("pageToken %q was not issued by this service", v)
		}
		sq.offset, sq.pageToken, sq.paged = off, v, true
	}
	return sq, nil
}

// The page token is opaque to clients; it only carries the offset of the
// next event, in the newest-first order every page is taken from.
func encodePageToken(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("events:" + strconv.Itoa(offset)))
}

func decodePageToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "events:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// jobEvents serves GET /common-status/v1/{apiKey}/job/{jobId}/events.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	if !s.authorize(w, r, statusService, now) {
		return
	}
	if r.PathValue("apiKey") != s.cfg.APIKey {
		writeError(w, http.StatusNotFound, "unknown apiKey: "+r.PathValue("apiKey"))
		return
	}
	sq, err := parseStatusQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	id, ok := parseUUID(r.PathValue("jobId"))
	if !ok {
		writeError(w, http.StatusNotFound, "unknown job: "+r.PathValue("jobId"))
		return
	}
	j, ok := s.jobs.lookup(id, now)
	if !ok {
		writeError(w, http.StatusNotFound, "unknown job: "+r.PathValue("jobId"))
		return
	}
	writeJSON(w, http.StatusOK, renderStatus(&j, sq, s.cfg.statusWord(j.status)))
}

// renderStatus builds the status answer of a job snapshot whose status the
// service words as word.
func renderStatus(j *job, sq statusQuery, word string) statusAnswer {
	version := strconv.FormatInt(j.version, 10)
	own := owner{OwnerType: "SITE", ID: j.ownerID}
	lastModified := j.created
	if j.status != jobRunning {
		lastModified = j.ended
	}

	// Newest first, as in the reference.
	all := make([]statusRecord, 0, len(j.events))
	var sum statusSummary
	for i := len(j.events) - 1; i >= 0; i-- {
		rec := j.eventRecord(j.events[i], version)
		switch rec.Level {
		case "ERROR":
			sum.Error++
		case "INFO":
			sum.Info++
		case "SUMMARY":
			sum.Summary++
		}
		// Without showAll the service keeps to what a client acts on: the
		// acceptance summary and errors.
		if rec.Level == "INFO" && !sq.showAll {
			continue
		}
		all = append(all, rec)
	}

	ans := statusAnswer{Result: all[min(sq.offset, len(all)):]}
	if sq.paged && (len(ans.Result) > sq.rows || sq.offset > 0) {
		p := &pagination{}
		if len(ans.Result) > sq.rows {
			ans.Result = ans.Result[:sq.rows]
			p.NextPageToken = encodePageToken(sq.offset + sq.rows)
		}
		p.Rows = len(ans.Result)
		ans.Pagination = p
	}

	queryParam := fmt.Sprintf("showAll=%t&rows=%d", sq.showAll, sq.rows)
	if sq.pageToken != "" {
		queryParam += "&pageToken=" + sq.pageToken
	}
	sum.Owner = own
	sum.JobID = j.id.String()
	sum.JobStatus = word
	sum.JobBatches = 1
	sum.JobTasks = len(j.events)
	sum.TotalEvents = len(j.events)
	sum.QueryParam = queryParam
	sum.Job = jobDetail{
		Owner:        own,
		JobID:        j.id.String(),
		AppID:        appID{AppType: "UPS", ID: 1077},
		Batches:      1,
		Tasks:        len(j.events),
		Name:         "Attribute API process for version " + version,
		RootSource:   appSource + "/" + serverDatacenter,
		Apps:         []string{appSource},
		Datacenters:  []string{serverDatacenter, writerDatacenter},
		Attributes:   j.serverAttributes(version),
		Status:       word,
		JobCreated:   j.created.UTC().Format("2006-01-02T15:04:05.000Z"),
		LastModified: lastModified.UTC().Format("2006-01-02T15:04:05.000Z"),
		Duration:     clockDuration(lastModified.Sub(j.created)),
	}
	ans.Summary = sum
	return ans
}

// serverAttributes are the attributes of the API server's side of a job:
// the job itself and its acceptance event.
func (j *job) serverAttributes(version string) eventAttributes {
	return eventAttributes{
		EventSource: "attributes-api-server",
		EventDest:   "batch-writer",
		LoadType:    "api",
		APIKey:      j.apiKey,
		Version:     version,
		HTTPStatus:  "200",
		Type:        string(j.collection),
	}
}

func (j *job) eventRecord(ev jobEvent, version string) statusRecord {
	rec := statusRecord{
		TaskID:     ev.taskID.String(),
		StatusID:   ev.statusID.String(),
		Batch:      1,
		Type:       "Application",
		Source:     appSource,
		Datacenter: writerDatacenter,
		Timestamp:  ev.at.UTC().Format("2006-01-02T15:04:05.000000000Z"),
	}
	writerAttributes := func(msg string) eventAttributes {
		return eventAttributes{
			EventSource: "batch-writer",
			EventDest:   "cassandra",
			LoadType:    "api",
			APIKey:      j.apiKey,
			Version:     version,
			Message:     msg,
			Type:        string(j.collection),
		}
	}
	switch ev.kind {
	case eventAccepted:
		rec.Level = "SUMMARY"
		rec.Datacenter = serverDatacenter
		rec.Message = fmt.Sprintf("Validated and accepted %d records for processing", j.n)
		rec.Attributes = j.serverAttributes(version)
	case eventWritten:
		rec.Level = "INFO"
		rec.Message = fmt.Sprintf("Successfully updated %d records to cassandra", j.n)
		rec.Attributes = writerAttributes(rec.Message)
	case eventWriteFailed:
		rec.Level = "ERROR"
		rec.Message = writeFailedMessage
		rec.Attributes = writerAttributes(rec.Message)
	}
	return rec
}

// statusWord is how the status service words st.
func (c Config) statusWord(st jobStatus) string {
	switch st {
	case jobCompleted:
		return c.CompletedStatus
	case jobFailed:
		return c.FailedStatus
	}
	return c.RunningStatus
}

// clockDuration formats d as the reference does: hh:mm:ss, truncated.
func clockDuration(d time.Duration) string {
	secs := int64(max(d, 0) / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", secs/3600, secs/60%60, secs%60)
}
