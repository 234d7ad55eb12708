package llm

import (
	"reflect"
	"testing"
)

// TestAggregateReasoningBlocks: signed and redacted reasoning keeps its
// blocks, in order, each with its own text range and signature; unsigned
// reasoning stays one block in Reasoning alone.
func TestAggregateReasoningBlocks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chunks []Chunk
		want   []ReasoningBlock
		text   string
	}{
		{name: "unsigned", chunks: []Chunk{{Reasoning: "a"}, {Reasoning: "b"}, {Text: "x"}}, text: "ab"},
		{name: "one signed block", chunks: []Chunk{{Reasoning: "ab"}, {Reasoning: "c"}, {Signature: "s1"}, {Text: "x"}},
			want: []ReasoningBlock{{Start: 0, End: 3, Signature: "s1"}}, text: "abc"},
		{name: "two signed blocks", chunks: []Chunk{{Reasoning: "ab", Signature: "s1"}, {Reasoning: "cd"}, {Signature: "s2"}},
			want: []ReasoningBlock{{Start: 0, End: 2, Signature: "s1"}, {Start: 2, End: 4, Signature: "s2"}}, text: "abcd"},
		{name: "a signature ends its block", chunks: []Chunk{{Signature: "s1"}, {Signature: "s2"}},
			want: []ReasoningBlock{{Signature: "s1"}, {Signature: "s2"}}},
		{name: "signature without text", chunks: []Chunk{{Signature: "s1"}, {Text: "x"}},
			want: []ReasoningBlock{{Signature: "s1"}}},
		{name: "redacted between", chunks: []Chunk{{Reasoning: "a"}, {Signature: "s1"}, {RedactedReasoning: "r1"}, {Reasoning: "b"}, {Signature: "s2"}},
			want: []ReasoningBlock{{Start: 0, End: 1, Signature: "s1"}, {Start: 1, End: 1, Redacted: "r1"}, {Start: 1, End: 2, Signature: "s2"}}, text: "ab"},
		{name: "unsigned text before a redacted block", chunks: []Chunk{{Reasoning: "a"}, {RedactedReasoning: "r1"}},
			want: []ReasoningBlock{{Start: 0, End: 1}, {Start: 1, End: 1, Redacted: "r1"}}, text: "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Aggregate
			for i := 0; i < 2; i++ { // the second round checks Reset
				a.Reset()
				for j := range tc.chunks {
					a.Add(&tc.chunks[j])
				}
				if !reflect.DeepEqual(a.ReasoningBlocks, tc.want) && (len(a.ReasoningBlocks) != 0 || len(tc.want) != 0) {
					t.Errorf("blocks = %+v, want %+v", a.ReasoningBlocks, tc.want)
				}
				if a.Reasoning.String() != tc.text {
					t.Errorf("reasoning = %q, want %q", a.Reasoning.String(), tc.text)
				}
			}
		})
	}
}

// TestAggregateReasoningBlocksBound: a hostile upstream's endless blocks
// stop growing the list at maxReasoningBlocks.
func TestAggregateReasoningBlocksBound(t *testing.T) {
	var a Aggregate
	for i := 0; i < 3*maxReasoningBlocks; i++ {
		a.Add(&Chunk{Reasoning: "x", Signature: "s"})
	}
	if len(a.ReasoningBlocks) != maxReasoningBlocks {
		t.Errorf("%d blocks", len(a.ReasoningBlocks))
	}
}
