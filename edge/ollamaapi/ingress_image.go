package ollamaapi

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// Image media types Ollama's vision models read, recognised by their
// leading bytes.
const (
	mediaPNG  = "image/png"
	mediaJPEG = "image/jpeg"
	mediaGIF  = "image/gif"
	mediaWebP = "image/webp"
)

// sniffImage names the media type of an image from its first bytes, or
// returns "" for anything else.
func sniffImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return mediaPNG
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return mediaJPEG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return mediaGIF
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return mediaWebP
	}
	return ""
}

// Why an image string was refused; imageDataURL's callers prefix the field.
const (
	errImageEmpty  = "must not be empty"
	errImageBase64 = "is not valid base64"
	errImageType   = "is not a PNG, JPEG, GIF or WebP image"
)

// imageDataURL turns one of Ollama's base64 image strings into a data: URL
// with the media type its bytes show, the form llm.Part carries. It
// accepts what Ollama's encoding/json decoding accepts (standard base64
// with padding; CR and LF are ignored) and, for clients that send one, a
// data: URL, whose declared type is replaced by the sniffed one. The image
// is validated without decoding it whole.
func imageDataURL(s []byte) (string, string) {
	if rest, ok := bytes.CutPrefix(s, []byte("data:")); ok {
		i := bytes.IndexByte(rest, ',')
		if i < 0 || !bytes.HasSuffix(rest[:i], []byte(";base64")) {
			return "", errImageBase64
		}
		s = rest[i+1:]
	}
	if bytes.ContainsAny(s, "\r\n") {
		s = bytes.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, s)
	}
	if len(s) == 0 {
		return "", errImageEmpty
	}
	if !validBase64(s) {
		return "", errImageBase64
	}
	var head [12]byte
	n, _ := base64.StdEncoding.Decode(head[:], s[:min(len(s), 16)])
	media := sniffImage(head[:n])
	if media == "" {
		return "", errImageType
	}
	var b strings.Builder
	b.Grow(len("data:;base64,") + len(media) + len(s))
	b.WriteString("data:")
	b.WriteString(media)
	b.WriteString(";base64,")
	b.Write(s)
	return b.String(), ""
}

// validBase64 reports whether s is standard, padded base64. It decodes in
// fixed-size blocks so a large image costs no allocation.
func validBase64(s []byte) bool {
	if len(s)%4 != 0 {
		return false
	}
	const block = 1024 // a multiple of 4
	var out [block / 4 * 3]byte
	for len(s) > 0 {
		n := min(len(s), block)
		chunk := s[:n]
		s = s[n:]
		// Padding may only end the whole string, not a block.
		if len(s) > 0 && chunk[n-1] == '=' {
			return false
		}
		if _, err := base64.StdEncoding.Decode(out[:], chunk); err != nil {
			return false
		}
	}
	return true
}
