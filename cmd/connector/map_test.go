package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// connector map on the orders example: each sample's outputs and verdicts,
// and an error saying how many records would be dead-lettered.
func TestMapCommand(t *testing.T) {
	var out bytes.Buffer
	err := mapRecords(context.Background(), []string{"-config", "../../examples/orders/connector.yaml", "-sink", "order-segments", "-in", "../../examples/orders/samples.jsonl"}, nil, &out)
	if err == nil || err.Error() != "1 of 7 records would be dead-lettered" {
		t.Fatalf("got %v", err)
	}
	for _, want := range []string{
		"line 4: 2 output(s): delivered\n",
		`  output[1] {"userId":"CRM-77002","value":{"gift_categories":"outerwear","gift_recipient":"true"}}` + "\n    valid\n",
		"line 5: filtered",
		"line 9: 1 output(s): dead letter (invalid): nothing sent\n",
		"    invalid: $.userId: must be a non-empty string\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	in := strings.NewReader(`{"type":"OrderPlaced","orderId":"o","placedAt":"2026-11-23T10:00:00Z","channel":"web","customer":{"externalId":"CRM-1"},"totals":{"total":1},"lines":[{"category":"a"}]}` + "\n")
	if err := mapRecords(context.Background(), []string{"-config", "../../examples/orders/connector.yaml", "-sink", "order-segments", "-json"}, in, &out); err != nil {
		t.Fatal(err)
	}
	if want := `{"line":1,"outputs":[{"value":{"userId":"CRM-1","value":{"last_order_categories":"a","last_order_channel":"web","order_value_band":"bronze","recent_buyer":"true"}},"valid":true}]}` + "\n"; out.String() != want {
		t.Fatalf("-json output\n got %s\nwant %s", out.String(), want)
	}
}
