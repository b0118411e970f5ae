package engine

import (
	"encoding/json"
	"testing"
)

// Omitted changes are counted as pending, and the field is left out of
// the JSON when zero (older state files and goldens stay as they were).
func TestPlanPendingCountsOmitted(t *testing.T) {
	listed := []Change{{Target: "a", From: "1", To: "2"}, {Target: "b", From: "x", To: "x"}}
	cases := []struct {
		name string
		plan Plan
		want int
		json string
	}{
		{"nothing", Plan{Changes: []Change{}}, 0, `{"changes":[]}`},
		{"listed only", Plan{Changes: listed}, 1, `{"changes":[{"target":"a","field":"","from":"1","to":"2"},{"target":"b","field":"","from":"x","to":"x"}]}`},
		{"with omitted", Plan{Changes: listed[:1], Omitted: 7}, 8, `{"changes":[{"target":"a","field":"","from":"1","to":"2"}],"omitted":7}`},
		{"negative omitted is ignored", Plan{Changes: []Change{}, Omitted: -3}, 0, `{"changes":[],"omitted":-3}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.plan.Pending(); got != tc.want {
				t.Fatalf("Pending() = %d, want %d", got, tc.want)
			}
			b, err := json.Marshal(tc.plan)
			if err != nil || string(b) != tc.json {
				t.Fatalf("json %s %v, want %s", b, err, tc.json)
			}
			var back Plan
			if err := json.Unmarshal(b, &back); err != nil || back.Omitted != tc.plan.Omitted {
				t.Fatalf("round trip: %+v %v", back, err)
			}
		})
	}
}
