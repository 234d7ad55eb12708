package openaitest

import (
	"bytes"
	"encoding/json"

	"github.com/edgeway/edgeway/edge/internal/fakeupstream"
)

// The request types below mirror only the fields of OpenAI's request bodies
// the fake acts on. Fields are json.RawMessage where possible because
// encoding/json reuses a RawMessage's capacity, so a pooled request decodes
// without allocating per field.

// chatRequest is the part of a POST /v1/chat/completions body the fake reads.
type chatRequest struct {
	Model         json.RawMessage `json:"model"`
	Messages      []chatMessage   `json:"messages"`
	Stream        bool            `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools               json.RawMessage `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
}

// chatMessage is one entry of "messages"; Content is a string, an array of
// content parts, or null.
type chatMessage struct {
	Role    json.RawMessage `json:"role"`
	Content json.RawMessage `json:"content"`
}

// contentPart is one element of an array-valued message content.
type contentPart struct {
	Text json.RawMessage `json:"text"`
}

// embedRequest is the part of a POST /v1/embeddings body the fake reads.
type embedRequest struct {
	Model          json.RawMessage `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat json.RawMessage `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

// Retained-capacity bounds for pooled request scratch: larger ones are
// dropped rather than kept alive in the pool.
const (
	maxPooledMessages = 256
	maxPooledRaw      = 64 << 10
)

func resetRaw(r json.RawMessage) json.RawMessage {
	if cap(r) > maxPooledRaw {
		return nil
	}
	return r[:0]
}

// reset clears r for reuse. encoding/json leaves fields absent from the
// input untouched, and decodes slice elements into the old values, so every
// element up to the capacity is cleared too.
func (r *chatRequest) reset() {
	r.Model = resetRaw(r.Model)
	if cap(r.Messages) > maxPooledMessages {
		r.Messages = nil
	}
	msgs := r.Messages[:cap(r.Messages)]
	for i := range msgs {
		msgs[i].Role, msgs[i].Content = resetRaw(msgs[i].Role), resetRaw(msgs[i].Content)
	}
	r.Messages = msgs[:0]
	r.Stream = false
	r.StreamOptions.IncludeUsage = false
	r.Tools = resetRaw(r.Tools)
	r.ToolChoice = resetRaw(r.ToolChoice)
	r.MaxTokens = 0
	r.MaxCompletionTokens = 0
}

func (r *embedRequest) reset() {
	r.Model = resetRaw(r.Model)
	r.Input = resetRaw(r.Input)
	r.EncodingFormat = resetRaw(r.EncodingFormat)
	r.Dimensions = 0
}

// isJSONNull reports whether raw is absent or the literal null.
func isJSONNull(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// nonEmptyString reports whether raw is a JSON string with at least one
// character.
func nonEmptyString(raw []byte) bool {
	return len(raw) > 2 && raw[0] == '"'
}

// nonEmptyArray reports whether raw is a JSON array with an element.
func nonEmptyArray(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '[' {
		return false
	}
	rest := bytes.TrimSpace(raw[1:])
	return len(rest) > 0 && rest[0] != ']'
}

// countWords counts runs of non-whitespace bytes, where whitespace is ASCII
// space, \t, \n, \v, \f and \r.
func countWords[T ~string | ~[]byte](s T) int {
	n := 0
	in := false
	for i := 0; i < len(s); i++ {
		if fakeupstream.IsSpace(s[i]) {
			in = false
		} else if !in {
			in = true
			n++
		}
	}
	return n
}

// countWordsJSONString counts the words in a JSON string literal (quotes
// included). Literals without escapes are scanned in place; others are
// decoded first so an escaped newline separates words as it should.
func countWordsJSONString(raw []byte) int {
	if len(raw) < 2 {
		return 0
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return countWords(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return 0
	}
	return countWords(s)
}

// promptWords counts the words of every message's text: string contents,
// and the "text" of array content parts. parts is scratch reused between
// calls (a pointer, so decoding into it does not move it to the heap).
func promptWords(msgs []chatMessage, parts *[]contentPart) int {
	n := 0
	for i := range msgs {
		c := bytes.TrimSpace(msgs[i].Content)
		if len(c) == 0 {
			continue
		}
		switch c[0] {
		case '"':
			n += countWordsJSONString(c)
		case '[':
			if cap(*parts) > maxPooledMessages {
				*parts = nil
			}
			all := (*parts)[:cap(*parts)]
			for j := range all {
				all[j].Text = resetRaw(all[j].Text)
			}
			*parts = all[:0]
			if json.Unmarshal(c, parts) != nil {
				continue
			}
			for _, p := range *parts {
				if t := bytes.TrimSpace(p.Text); len(t) > 0 && t[0] == '"' {
					n += countWordsJSONString(t)
				}
			}
		}
	}
	return n
}

const hexDigits = "0123456789abcdef"

// appendHex appends v as exactly 16 lowercase hex digits.
func appendHex(b []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(v>>uint(shift))&0xf])
	}
	return b
}
