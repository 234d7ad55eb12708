package anthropic

import (
	"time"

	"github.com/edgeway/edgeway/edge/internal/wire"
	"github.com/edgeway/edgeway/edge/llm"
)

// AppendModelList appends Anthropic's GET /v1/models answer for models:
// {"data":[{"type":"model","id","display_name","created_at"}],"has_more":false,"first_id","last_id"}.
// edgeway lists everything in one page.
func AppendModelList(dst []byte, models []llm.Model) []byte {
	dst = append(dst, `{"data":[`...)
	for i := range models {
		m := &models[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"type":"model","id":`...)
		dst = wire.AppendString(dst, m.ID)
		dst = append(dst, `,"display_name":`...)
		dst = wire.AppendString(dst, m.ID)
		dst = append(dst, `,"created_at":"`...)
		created := m.Created
		if created.IsZero() {
			created = time.Unix(0, 0)
		}
		dst = created.UTC().AppendFormat(dst, time.RFC3339)
		dst = append(dst, `"}`...)
	}
	dst = append(dst, `],"has_more":false,"first_id":`...)
	if len(models) == 0 {
		return append(dst, `null,"last_id":null}`...)
	}
	dst = wire.AppendString(dst, models[0].ID)
	dst = append(dst, `,"last_id":`...)
	dst = wire.AppendString(dst, models[len(models)-1].ID)
	return append(dst, '}')
}
