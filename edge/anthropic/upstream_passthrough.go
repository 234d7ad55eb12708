package anthropic

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// BetaHeader is the request header that turns on Anthropic's beta
// features; a client's is forwarded with its passthrough.
const BetaHeader = "anthropic-beta"

// midConversationSystemBeta is the prefix of the beta that lets a role
// "system" turn stand in messages (mid-conversation-system-2026-04-07);
// without it such turns are folded into user turns.
const midConversationSystemBeta = "mid-conversation-system"

// Reminder tags around a system turn folded into a user turn: the words
// Claude's own harnesses use for instructions that arrive mid-conversation.
const (
	reminderOpen  = "<system-reminder>\n"
	reminderClose = "\n</system-reminder>"
)

// passthroughOf returns req's passthrough when it is in this package's
// dialect, else nil.
func passthroughOf(req *llm.ChatRequest) *llm.Passthrough {
	if p := req.Passthrough; p != nil && p.Dialect == DialectName && len(p.Body) > 0 {
		return p
	}
	return nil
}

// systemInPlace reports whether the client's headers carry the beta that
// lets system turns stand in messages.
func systemInPlace(p *llm.Passthrough) bool {
	if p == nil {
		return false
	}
	for _, h := range p.Headers {
		if !strings.EqualFold(h.Name, BetaHeader) {
			continue
		}
		for v := range strings.SplitSeq(h.Value, ",") {
			if strings.HasPrefix(strings.TrimSpace(v), midConversationSystemBeta) {
				return true
			}
		}
	}
	return false
}

// appendPassthrough appends the upstream body made from a client's own:
// every member as the client wrote it, in order, except model, which
// becomes the upstream's model name, and stream, which becomes true when
// stream is set and is left out otherwise (count_tokens). Role "system"
// turns are folded into user turns unless inPlace (see foldSystemTurns).
func appendPassthrough(dst, body []byte, model string, stream, inPlace bool) ([]byte, error) {
	var r wire.Reader
	r.Reset(body)
	if r.Peek() != '{' {
		return nil, errors.New("passthrough body is not a JSON object")
	}
	r.OpenObject()
	dst = append(dst, `{"model":`...)
	dst = wire.AppendString(dst, model)
	if stream {
		dst = append(dst, `,"stream":true`...)
	}
	var it wire.Iter
	for r.Member(&it) {
		key := string(it.Key)
		var raw []byte
		if raw, it.Err = r.Raw(); it.Err != nil {
			break
		}
		switch key {
		case "model", "stream":
			continue
		}
		dst = append(dst, ',')
		dst = wire.AppendString(dst, key)
		dst = append(dst, ':')
		if key == "messages" && !inPlace {
			var err error
			if dst, err = foldSystemTurns(dst, raw); err != nil {
				return nil, err
			}
			continue
		}
		dst = append(dst, raw...)
	}
	if it.Err != nil {
		return nil, it.Err
	}
	return append(dst, '}'), nil
}

// turn is one message of a passthrough body, decoded only when it is
// rewritten.
type turn struct {
	raw  []byte
	role string
	// blocks replaces the content when set; members keeps the rest.
	blocks  []json.RawMessage
	members map[string]json.RawMessage
}

// foldSystemTurns appends the messages array raw with each role "system"
// turn folded into a user turn as a <system-reminder> text block (keeping
// its cache_control): appended to the user turn before it, which
// Anthropic's placement rules make the usual neighbour, else put first in
// the user turn after it, else standing as a user turn of its own. An
// array without system turns is appended as it is.
func foldSystemTurns(dst, raw []byte) ([]byte, error) {
	var r wire.Reader
	r.Reset(raw)
	if r.Peek() != '[' {
		return append(dst, raw...), nil
	}
	r.OpenArray()
	var (
		it        wire.Iter
		turns     []turn
		hasSystem bool
	)
	for r.Elem(&it) {
		var m []byte
		if m, it.Err = r.Raw(); it.Err != nil {
			break
		}
		role := roleOf(m)
		hasSystem = hasSystem || role == string(llm.RoleSystem)
		turns = append(turns, turn{raw: m, role: role})
	}
	if it.Err != nil {
		return nil, it.Err
	}
	if !hasSystem {
		return append(dst, raw...), nil
	}
	for i := range turns {
		if turns[i].role != string(llm.RoleSystem) {
			continue
		}
		block, err := reminderBlock(turns[i].raw)
		if err != nil {
			return nil, err
		}
		switch {
		case i > 0 && turns[i-1].role == string(llm.RoleUser):
			if err := turns[i-1].addBlock(block, false); err != nil {
				return nil, err
			}
			turns[i].role = "" // folded
		case i+1 < len(turns) && turns[i+1].role == string(llm.RoleUser):
			if err := turns[i+1].addBlock(block, true); err != nil {
				return nil, err
			}
			turns[i].role = ""
		default:
			turns[i] = turn{role: string(llm.RoleUser), members: map[string]json.RawMessage{"role": json.RawMessage(`"user"`)}, blocks: []json.RawMessage{block}}
		}
	}
	dst = append(dst, '[')
	first := true
	for i := range turns {
		t := &turns[i]
		if t.role == "" {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if t.members == nil {
			dst = append(dst, t.raw...)
			continue
		}
		content, err := json.Marshal(t.blocks)
		if err != nil {
			return nil, err
		}
		t.members["content"] = content
		b, err := json.Marshal(t.members)
		if err != nil {
			return nil, err
		}
		dst = append(dst, b...)
	}
	return append(dst, ']'), nil
}

// roleOf reads a message's role without decoding the rest of it.
func roleOf(m []byte) string {
	var r wire.Reader
	r.Reset(m)
	if r.Peek() != '{' {
		return ""
	}
	r.OpenObject()
	var it wire.Iter
	for r.Member(&it) {
		if string(it.Key) == "role" && r.Peek() == '"' {
			s, _ := r.Str()
			return s
		}
		it.Err = r.Skip()
	}
	return ""
}

// addBlock adds block to t's content, first or last, decoding t (and a
// string content into one text block) the first time.
func (t *turn) addBlock(block json.RawMessage, first bool) error {
	if t.members == nil {
		if err := json.Unmarshal(t.raw, &t.members); err != nil {
			return err
		}
		c := t.members["content"]
		switch {
		case len(c) > 0 && c[0] == '"':
			var s string
			if err := json.Unmarshal(c, &s); err != nil {
				return err
			}
			if s != "" {
				b, _ := json.Marshal(map[string]string{"type": "text", "text": s})
				t.blocks = append(t.blocks, b)
			}
		case len(c) > 0 && c[0] == '[':
			if err := json.Unmarshal(c, &t.blocks); err != nil {
				return err
			}
		}
	}
	if first {
		t.blocks = append([]json.RawMessage{block}, t.blocks...)
	} else {
		t.blocks = append(t.blocks, block)
	}
	return nil
}

// reminderBlock turns a system turn into one text block holding its text
// between reminder tags, with the turn's cache_control (or its last
// block's).
func reminderBlock(m []byte) (json.RawMessage, error) {
	var sys struct {
		Content      json.RawMessage `json:"content"`
		CacheControl json.RawMessage `json:"cache_control"`
	}
	if err := json.Unmarshal(m, &sys); err != nil {
		return nil, err
	}
	var texts []string
	cc := sys.CacheControl
	switch c := sys.Content; {
	case len(c) > 0 && c[0] == '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, err
		}
		texts = append(texts, s)
	case len(c) > 0 && c[0] == '[':
		var blocks []struct {
			Text         string          `json:"text"`
			CacheControl json.RawMessage `json:"cache_control"`
		}
		if err := json.Unmarshal(c, &blocks); err != nil {
			return nil, err
		}
		for _, b := range blocks {
			texts = append(texts, b.Text)
			if len(b.CacheControl) > 0 && string(b.CacheControl) != "null" {
				cc = b.CacheControl
			}
		}
	}
	out := struct {
		Type         string          `json:"type"`
		Text         string          `json:"text"`
		CacheControl json.RawMessage `json:"cache_control,omitempty"`
	}{Type: "text", Text: reminderOpen + strings.Join(texts, "\n\n") + reminderClose}
	if len(cc) > 0 && string(cc) != "null" {
		out.CacheControl = cc
	}
	return json.Marshal(out)
}
