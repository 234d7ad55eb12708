package translation

import (
	"encoding/json"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/edgeway/edgeway/edge/anthropic"
	"github.com/edgeway/edgeway/edge/llm"
	"github.com/edgeway/edgeway/edge/ollamaapi"
	"github.com/edgeway/edgeway/edge/openai"
)

// Fixed identities of the rendered responses, so transcripts are stable.
const (
	clientModel   = "weather-bot" // the alias the client asked for
	openaiID      = "chatcmpl-translation"
	openaiCreated = 1764072000
	anthropicID   = "msg_translation"
)

// ollamaStart is when the Ollama-dialect request "arrived"; durations are
// measured from it and normalised in the transcripts anyway.
var ollamaStart = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// encoder renders one response in an ingress dialect, as edge/server's
// dialect types do.
type encoder interface {
	start(dst []byte) []byte
	chunk(dst []byte, c *llm.Chunk) []byte
	end(dst []byte, u llm.Usage, finish llm.FinishReason) []byte
	whole(dst []byte, a *llm.Aggregate) []byte
}

type openaiEncoder struct{}

func (openaiEncoder) start(dst []byte) []byte { return dst }
func (openaiEncoder) chunk(dst []byte, c *llm.Chunk) []byte {
	return openai.AppendStreamChunk(dst, openaiID, openaiCreated, clientModel, c)
}
func (openaiEncoder) end(dst []byte, u llm.Usage, _ llm.FinishReason) []byte {
	// The client asked for stream_options.include_usage.
	dst = openai.AppendStreamUsage(dst, openaiID, openaiCreated, clientModel, u)
	return openai.AppendStreamDone(dst)
}
func (openaiEncoder) whole(dst []byte, a *llm.Aggregate) []byte {
	return openai.AppendChatResponse(dst, openaiID, openaiCreated, clientModel, a)
}

type anthropicEncoder struct{ enc anthropic.StreamEncoder }

func (e *anthropicEncoder) start(dst []byte) []byte { return e.enc.Start(dst) }
func (e *anthropicEncoder) chunk(dst []byte, c *llm.Chunk) []byte {
	return e.enc.Chunk(dst, c)
}
func (e *anthropicEncoder) end(dst []byte, u llm.Usage, _ llm.FinishReason) []byte {
	return e.enc.End(dst, u)
}
func (e *anthropicEncoder) whole(dst []byte, a *llm.Aggregate) []byte {
	return anthropic.AppendMessageResponse(dst, anthropicID, clientModel, a)
}

type ollamaEncoder struct{ enc ollamaapi.ChatEncoder }

func (e *ollamaEncoder) start(dst []byte) []byte { return dst }
func (e *ollamaEncoder) chunk(dst []byte, c *llm.Chunk) []byte {
	return e.enc.Chunk(dst, c)
}
func (e *ollamaEncoder) end(dst []byte, u llm.Usage, f llm.FinishReason) []byte {
	return e.enc.End(dst, u, f)
}
func (e *ollamaEncoder) whole(dst []byte, a *llm.Aggregate) []byte { return e.enc.Whole(dst, a) }

// newEncoder returns a fresh encoder of dialect d for req.
func newEncoder(d string, req *llm.ChatRequest) encoder {
	switch d {
	case ingressAnthropic:
		e := &anthropicEncoder{}
		e.enc.Reset(anthropicID, clientModel)
		e.enc.SetInputTokens(anthropic.CountTokens(req))
		return e
	case ingressOllama:
		e := &ollamaEncoder{}
		e.enc.Reset(clientModel, ollamaStart)
		return e
	}
	return openaiEncoder{}
}

// renderStream feeds chunks to enc the way edge/server's exchange does: the
// first chunk that carries anything gets the assistant role and opens the
// stream, usage-only chunks are held for the end, and the end reports the
// usage the provider returned and the last finish reason (stop when none).
func renderStream(enc encoder, chunks []llm.Chunk, usage llm.Usage) []byte {
	var out []byte
	emitted := false
	var finish llm.FinishReason
	for i := range chunks {
		c := chunks[i]
		if c.FinishReason != "" {
			finish = c.FinishReason
		}
		if c.Role == "" && c.Text == "" && c.Reasoning == "" && len(c.ToolCalls) == 0 && c.FinishReason == "" {
			continue
		}
		if !emitted {
			if c.Role == "" {
				c.Role = llm.RoleAssistant
			}
			out = enc.start(out)
			emitted = true
		}
		out = enc.chunk(out, &c)
	}
	if !emitted {
		out = enc.start(out)
	}
	if finish == "" {
		finish = llm.FinishStop
	}
	return enc.end(out, usage, finish)
}

// renderWhole aggregates chunks and renders the non-streamed answer, as
// edge/server does for a client that did not stream.
func renderWhole(enc encoder, chunks []llm.Chunk, usage llm.Usage) []byte {
	var a llm.Aggregate
	for i := range chunks {
		a.Add(&chunks[i])
	}
	if !a.HasUsage {
		a.Usage = usage
	}
	if a.FinishReason == "" {
		a.FinishReason = llm.FinishStop
	}
	if a.Role == "" {
		a.Role = llm.RoleAssistant
	}
	return enc.whole(nil, &a)
}

// responseRequest is what the client asks in the response matrix.
func responseRequest(sc scenario) *llm.ChatRequest {
	req := &llm.ChatRequest{
		Model:    clientModel,
		Stream:   true,
		Messages: []llm.Message{{Role: llm.RoleUser, Content: []llm.Part{{Text: "What is the weather in Paris?"}}}},
	}
	if sc == answerTool {
		req.Tools = []llm.Tool{{
			Name:        toolName,
			Description: "Get the current weather in a city",
			Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["city"]}`),
		}}
	}
	return req
}

// promptWords is the word count of responseRequest's message, which every
// fake reports as its prompt token count.
const promptWords = 6

// completionTokens is what each fake reports as output tokens: one per
// piece sent. Gemini and Ollama send a call whole, and count it as one.
var completionTokens = map[string]map[scenario]int{
	"openai":    {answerText: replyPieces, answerTool: toolPieces},
	"anthropic": {answerText: replyPieces, answerTool: toolPieces},
	"gemini":    {answerText: replyPieces, answerTool: 1},
	"ollama":    {answerText: replyPieces, answerTool: 1},
}

// upstreamToolIDs are the call ids the fakes answer with; Gemini has none
// on its wire and the client numbers calls.
var upstreamToolIDs = map[string]string{
	"openai":    "call_upstream01",
	"anthropic": "toolu_01Upstream",
	"gemini":    "call_0",
	"ollama":    "call_k2x9q0ab",
}

// splitsArguments says whether the upstream's wire streams tool arguments
// in fragments; Gemini and Ollama send each call whole.
var splitsArguments = map[string]bool{"openai": true, "anthropic": true}

// finishWords is each dialect's word for why generation stopped. Ollama
// says "stop" after tool calls too.
var finishWords = map[string]map[scenario]string{
	ingressOpenAI:    {answerText: "stop", answerTool: "tool_calls"},
	ingressAnthropic: {answerText: "end_turn", answerTool: "tool_use"},
	ingressOllama:    {answerText: "stop", answerTool: "stop"},
}

// TestResponseMatrix streams a text answer and a tool call from each
// upstream fake through its real client, renders the chunks in every
// ingress dialect (streamed and whole) and reads them back with strict
// parsers of that dialect.
func TestResponseMatrix(t *testing.T) {
	for _, p := range upstreamNames {
		for _, sc := range []scenario{answerText, answerTool} {
			t.Run(p+"_"+sc.String(), func(t *testing.T) {
				u := startUpstream(t, p, sc)
				req := responseRequest(sc)
				chunks, usage := u.chat(t, req)
				if usage.PromptTokens != promptWords || usage.CompletionTokens != completionTokens[p][sc] ||
					usage.TotalTokens != usage.PromptTokens+usage.CompletionTokens {
					t.Errorf("%s usage = %+v, want prompt %d completion %d", p, usage, promptWords, completionTokens[p][sc])
				}
				for _, d := range ingresses {
					t.Run("to_"+d, func(t *testing.T) {
						checkRendered(t, p, d, sc, req, chunks, usage)
					})
				}
			})
		}
	}
}

func checkRendered(t *testing.T, p, d string, sc scenario, req *llm.ChatRequest, chunks []llm.Chunk, usage llm.Usage) {
	t.Helper()
	stream := renderStream(newEncoder(d, req), chunks, usage)
	whole := renderWhole(newEncoder(d, req), chunks, usage)

	var gotStream, gotWhole reassembled
	var errS, errW error
	ext := "sse"
	switch d {
	case ingressOpenAI:
		gotStream, errS = parseOpenAIStream(stream)
		gotWhole, errW = parseOpenAIWhole(whole)
	case ingressAnthropic:
		gotStream, errS = parseAnthropicStream(stream)
		gotWhole, errW = parseAnthropicWhole(whole)
	case ingressOllama:
		ext = "ndjson"
		gotStream, errS = parseOllama(stream, false)
		gotWhole, errW = parseOllama(whole, true)
	}
	if errS != nil {
		t.Errorf("stream: %v\n%s", errS, stream)
	}
	if errW != nil {
		t.Errorf("whole: %v\n%s", errW, whole)
	}

	want := reassembled{
		Role:             "assistant",
		Finish:           finishWords[d][sc],
		PromptTokens:     promptWords,
		CompletionTokens: completionTokens[p][sc],
		TotalTokens:      -1,
	}
	if d == ingressOpenAI {
		want.TotalTokens = promptWords + completionTokens[p][sc]
	}
	if sc == answerText {
		want.Text = replyText
	} else {
		want.ToolCalls = []call{{ID: upstreamToolIDs[p], Name: toolName, Args: toolArgs}}
		if p == "anthropic" {
			want.Text = toolPreamble
		}
	}

	if errS == nil {
		// The text must arrive in as many events as the upstream sent
		// pieces, and split arguments must stay split where the client's
		// dialect can carry fragments (Ollama's cannot).
		if sc == answerText && gotStream.TextEvents != replyPieces {
			t.Errorf("stream carried the text in %d events, want %d", gotStream.TextEvents, replyPieces)
		}
		if sc == answerTool {
			switch {
			case d == ingressOllama || !splitsArguments[p]:
				if gotStream.ArgEvents != 1 {
					t.Errorf("stream carried the arguments in %d events, want 1", gotStream.ArgEvents)
				}
			case gotStream.ArgEvents < 2:
				t.Errorf("stream carried the split arguments in %d events, want several", gotStream.ArgEvents)
			}
		}
		gotStream.TextEvents, gotStream.ArgEvents = 0, 0
		if !reflect.DeepEqual(gotStream, want) {
			t.Errorf("stream reassembles to\n%+v\nwant\n%+v", gotStream, want)
		}
	}
	if errW == nil && !reflect.DeepEqual(gotWhole, want) {
		t.Errorf("whole reassembles to\n%+v\nwant\n%+v", gotWhole, want)
	}

	name := p + "_to_" + d + "_" + sc.String()
	checkGolden(t, "stream/"+name+"."+ext, normalizeVolatile(stream))
	checkJSONGolden(t, "whole/"+name+".json", normalizeVolatile(whole))
}

// Volatile fields of Ollama's lines: the gateway's clock and durations.
var (
	createdAtRE = regexp.MustCompile(`"created_at":"[^"]*"`)
	durationRE  = regexp.MustCompile(`"(total|load|prompt_eval|eval)_duration":[0-9]+`)
)

// normalizeVolatile pins the fields that change from run to run; ids and
// creation times of the other dialects are fixed by the test already.
func normalizeVolatile(b []byte) []byte {
	b = createdAtRE.ReplaceAll(b, []byte(`"created_at":"2026-11-25T12:00:00Z"`))
	return durationRE.ReplaceAll(b, []byte(`"${1}_duration":0`))
}
