package statuswords

import "testing"

func TestSetIgnoresCaseAndSpace(t *testing.T) {
	s := New([]string{"COMPLETED", " done ", "Finished"})
	for _, tc := range []struct {
		status string
		want   bool
	}{
		{"COMPLETED", true},
		{"completed", true},
		{" Completed\n", true},
		{"DONE", true},
		{"finished", true},
		{"complete", false},
		{"", false},
		{"RUNNING", false},
	} {
		if got := s.Has(tc.status); got != tc.want {
			t.Errorf("Has(%q) = %v, want %v", tc.status, got, tc.want)
		}
		if got := s[Fold(tc.status)]; got != tc.want {
			t.Errorf("s[Fold(%q)] = %v, want %v", tc.status, got, tc.want)
		}
	}
}
