package ollamatest

import "testing"

func TestFullName(t *testing.T) {
	for in, want := range map[string]string{
		"tiny":                    "registry.ollama.ai/library/tiny:latest",
		"gemma:2b":                "registry.ollama.ai/library/gemma:2b",
		"user/model":              "registry.ollama.ai/user/model:latest",
		"hf.co/user/model:Q4_K_M": "hf.co/user/model:Q4_K_M",
	} {
		if got := fullName(in); got != want {
			t.Errorf("fullName(%q) = %q, want %q", in, got, want)
		}
	}
}
