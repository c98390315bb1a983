package service

import "testing"

// An API's share in a process is the mean of its pipelines' known shares.
func TestLimitShareIsTheMeanOfItsPipelines(t *testing.T) {
	type report struct {
		pipeline string
		share    float64
	}
	tests := []struct {
		name    string
		reports []report
		want    float64
	}{
		{"one pipeline", []report{{"a", 1.0 / 3}}, 1.0 / 3},
		{"its share changes", []report{{"a", 1.0 / 3}, {"a", 0.5}}, 0.5},
		// One replica owns a's partitions, the other b's: each gets half.
		{"two pipelines split across replicas", []report{{"a", 1}, {"b", 0}}, 0.5},
		{"two pipelines, a third each", []report{{"a", 1.0 / 3}, {"b", 1.0 / 3}}, 1.0 / 3},
		// b has not learnt its share: it does not count yet.
		{"one still unknown", []report{{"a", 0.25}}, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got float64
			l := &limitShare{shares: map[string]float64{}, set: func(s float64) { got = s }}
			for _, r := range tt.reports {
				l.report(r.pipeline, r.share)
			}
			if got != tt.want {
				t.Fatalf("share %v, want %v", got, tt.want)
			}
		})
	}
}
