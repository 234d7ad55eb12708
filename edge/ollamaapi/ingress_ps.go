package ollamaapi

import "github.com/edgeway/edgeway/edge/internal/wire"

// neverExpires is the expires_at of a model that stays loaded while its
// server is up; `ollama ps` shows it as "Forever".
const neverExpires = "9999-12-31T23:59:59Z"

// AppendRunning appends one /api/ps model object for a model that a
// runtime other than Ollama (llama-server) keeps loaded and says little
// about: name and model are name, the digest is derived from it (`ollama
// ps` prints its first 12 characters), sizes and context length are 0.
func AppendRunning(dst []byte, name string) []byte {
	dst = append(dst, `{"name":`...)
	dst = wire.AppendString(dst, name)
	dst = append(dst, `,"model":`...)
	dst = wire.AppendString(dst, name)
	dst = append(dst, `,"size":0,"digest":"`...)
	dst = append(dst, modelDigest(name)...)
	dst = append(dst, `","details":`...)
	dst = appendDetails(dst)
	dst = append(dst, `,"expires_at":"`+neverExpires+`","size_vram":0,"context_length":0}`...)
	return dst
}
