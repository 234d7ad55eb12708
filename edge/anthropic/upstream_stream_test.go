package anthropic

import (
	"context"
	"io"

	"github.com/edgeway/edgeway/edge/llm"
)

// read decodes an SSE body as Chat does, for tests that feed one directly.
func (s *msgStream) read(ctx context.Context, body io.Reader, emit func(*llm.Chunk) error) (llm.Usage, error) {
	s.wire.reset()
	err := s.c.up.Stream(ctx, body, s, emit)
	return s.usage, err
}

// whole decodes a message object as Chat does.
func (s *msgStream) whole(data []byte, emit func(*llm.Chunk) error) error { return s.Whole(data, emit) }
