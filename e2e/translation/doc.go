// Package translation holds edgeway's cross-dialect translation matrix, a
// test-only package that proves nothing is lost between any client dialect
// and any upstream. One rich conversation, written once in each ingress
// dialect's wire format (OpenAI Chat Completions, Anthropic Messages,
// Ollama /api/chat), must decode to the same canonical llm.ChatRequest up to
// a short, documented list of lossy differences; each canonical request is
// then sent through every upstream client (OpenAI, Anthropic, Gemini, Ollama)
// to an in-process fake, and the captured upstream body is compared with a
// golden file checked by hand against the provider's API reference. In the
// other direction every fake streams a text answer and a tool call, and the
// chunks are rendered by every ingress encoder (streamed and whole) and read
// back with strict parsers of that dialect, so text, tool calls, finish
// reasons and token counts survive every pair. Run with -update to rewrite
// the golden files, then read them again; goldens corrected by hand to what
// the code should produce (listed with the reason in goldenNotes) are kept.
package translation
