package contacthub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/connector/demo"
	"github.com/contactlab/connector/connector/sandbox"
	"github.com/contactlab/connector/connector/sandbox/sandboxtest"
	"github.com/contactlab/connector/schemas"
)

// The connector's validator (package schemas) and the sandbox's own rules
// are two readings of the reference. They must agree on every body: what
// one refuses, the other refuses. Each body is wrapped in a well-formed
// envelope, sent to the sandbox as is, and judged by both; the golden
// files pin the limits, the demo traffic the realistic shapes.
func TestCustomerRulesAgreeWithTheSandbox(t *testing.T) {
	sb := sandboxtest.Start(t, nil)
	client := contacthub.NewClient(contacthub.Options{BaseURL: sb.ContacthubURL(), WorkspaceID: sandbox.WorkspaceID,
		Token: sandbox.ContacthubToken, Timeout: 5 * time.Second, Headroom: 1}, nil)
	cc, err := client.Customers(contacthub.CustomerPaths{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id, err := cc.Create(ctx, []byte(`{"nodeId": "`+sandbox.NodeID+`", "externalId": "agreement"}`))
	if err != nil {
		t.Fatal(err)
	}

	// send posts body as is, so that neither side's encoding hides a member.
	send := func(op string, body []byte) int {
		path := "/workspaces/" + sandbox.WorkspaceID + "/customers"
		method := http.MethodPost
		switch op {
		case schemas.CustomerOpPatch:
			path, method = path+"/"+id, http.MethodPatch
		case schemas.CustomerOpSession:
			path += "/" + id + "/sessions"
		}
		req, err := http.NewRequest(method, sb.ContacthubURL()+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+sandbox.ContacthubToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	check := func(t *testing.T, name, op string, body json.RawMessage) {
		t.Helper()
		member := "customer"
		if op == schemas.CustomerOpSession {
			member = "session"
		}
		customerID := `"customerId": "` + id + `", `
		if op == schemas.CustomerOpCreate {
			customerID = ""
		}
		wrapped := `{"operation": "` + op + `", ` + customerID + `"` + member + `": ` + string(body) + `}`
		_, goErr := schemas.DecodeCustomerRecord([]byte(wrapped))
		var ve *schemas.ValidationError
		if errors.As(goErr, &ve) && onlyDuplicates(ve) {
			return // encoding/json keeps the last of duplicate members: the sandbox cannot see them
		}
		status := send(op, body)
		if (goErr == nil) != (status < 300) {
			t.Errorf("%s: the validator says %v, the sandbox %d\n%.300s", name, goErr, status, body)
		}
	}

	files, err := filepath.Glob("../../schemas/testdata/customer-record/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Operation string          `json:"operation"`
			Customer  json.RawMessage `json:"customer"`
			Session   json.RawMessage `json:"session"`
		}
		if json.Unmarshal(data, &env) != nil {
			continue // not an envelope at all: nothing to send
		}
		switch {
		case (env.Operation == schemas.CustomerOpCreate || env.Operation == schemas.CustomerOpPatch) && isObject(env.Customer):
			check(t, filepath.Base(f), env.Operation, env.Customer)
		case env.Operation == schemas.CustomerOpSession && isObject(env.Session):
			check(t, filepath.Base(f), env.Operation, env.Session)
		}
	}

	g := demo.NewCustomersTraffic(3, 50, sandbox.NodeID)
	g.InvalidShare = 0.2
	g.Resolve = func(ext string) string {
		id, _ := sb.Contacthub.FindCustomer(sandbox.NodeID, ext)
		return id
	}
	for i := range 600 {
		_, v, _ := g.Next()
		var env struct {
			Operation string          `json:"operation"`
			Customer  json.RawMessage `json:"customer"`
			Session   json.RawMessage `json:"session"`
		}
		if json.Unmarshal(v, &env) != nil {
			continue
		}
		// The demo names its own customers; the check patches the
		// agreement customer, which exists.
		name := "demo record " + strconv.Itoa(i)
		switch env.Operation {
		case schemas.CustomerOpCreate, schemas.CustomerOpPatch:
			check(t, name, env.Operation, env.Customer)
		case schemas.CustomerOpSession:
			check(t, name, env.Operation, env.Session)
		}
	}
	if st := sb.Contacthub.CustomersStats(); st.Rejected == 0 || st.Created+st.Merged+st.Patched+st.Sessions == 0 {
		t.Fatalf("the check sent nothing either way: %+v", st)
	}
}

func isObject(raw json.RawMessage) bool {
	return len(raw) > 0 && raw[0] == '{'
}

func onlyDuplicates(ve *schemas.ValidationError) bool {
	for _, v := range ve.Violations {
		if v.Rule != "duplicate member name" {
			return false
		}
	}
	return true
}
