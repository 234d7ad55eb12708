package openai

import (
	"context"
	"io"

	"github.com/edgeway/edgeway/edge/llm"
)

// read decodes an SSE body as Chat does, for tests that feed one directly.
func (s *chatStream) read(ctx context.Context, body io.Reader, emit func(*llm.Chunk) error) (llm.Usage, error) {
	err := s.c.up.Stream(ctx, body, s, emit)
	return s.usage, err
}
