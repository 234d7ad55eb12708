package anthropic

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/llm"
)

func TestAppendModelList(t *testing.T) {
	tests := []struct {
		name   string
		models []llm.Model
		first  any
	}{
		{"empty", nil, nil},
		{"two", []llm.Model{{ID: "chat"}, {ID: "anthropic/claude-x", Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}}, "chat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Data []struct {
					Type, ID, DisplayName, CreatedAt string
				} `json:"data"`
				HasMore bool `json:"has_more"`
				FirstID any  `json:"first_id"`
			}
			b := AppendModelList(nil, tc.models)
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			if len(got.Data) != len(tc.models) || got.HasMore || got.FirstID != tc.first {
				t.Errorf("got %+v", got)
			}
			for _, d := range got.Data {
				if d.Type != "model" {
					t.Errorf("type %q", d.Type)
				}
			}
		})
	}
}
