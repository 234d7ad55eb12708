package ingress

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// Image media types the vision models behind edgeway read, recognised by
// their leading bytes.
const (
	MediaPNG  = "image/png"
	MediaJPEG = "image/jpeg"
	MediaGIF  = "image/gif"
	MediaWebP = "image/webp"
)

// SniffImage names the media type of an image from its first bytes, or
// returns "" for anything else.
func SniffImage(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return MediaPNG
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return MediaJPEG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return MediaGIF
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return MediaWebP
	}
	return ""
}

// Why ImageDataURL refused an image string; its callers prefix the field.
const (
	ErrImageEmpty  = "must not be empty"
	ErrImageBase64 = "is not valid base64"
	ErrImageType   = "is not a PNG, JPEG, GIF or WebP image"
)

// ImageDataURL turns a base64 image string into a data: URL with the media
// type its bytes show, the form llm.Part carries, or returns why not. It
// accepts what encoding/json accepts for a []byte (standard base64 with
// padding; CR and LF are ignored) and a data: URL, whose declared type is
// replaced by the sniffed one. The image is validated without decoding it
// whole.
func ImageDataURL(s []byte) (url, why string) {
	if rest, ok := bytes.CutPrefix(s, []byte("data:")); ok {
		i := bytes.IndexByte(rest, ',')
		if i < 0 || !bytes.HasSuffix(rest[:i], []byte(";base64")) {
			return "", ErrImageBase64
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
		return "", ErrImageEmpty
	}
	if !ValidBase64(s, true) {
		return "", ErrImageBase64
	}
	var head [12]byte
	n, _ := base64.StdEncoding.Decode(head[:], s[:min(len(s), 16)])
	media := SniffImage(head[:n])
	if media == "" {
		return "", ErrImageType
	}
	return DataURL(media, s), ""
}

// DataURL returns "data:<media>;base64,<b64>" with one allocation.
func DataURL(media string, b64 []byte) string {
	var b strings.Builder
	b.Grow(len("data:;base64,") + len(media) + len(b64))
	b.WriteString("data:")
	b.WriteString(media)
	b.WriteString(";base64,")
	b.Write(b64)
	return b.String()
}

// ValidBase64 reports whether b is non-empty standard base64; padded says
// whether the final '=' padding is required or may be left out. It checks
// the alphabet and the length rather than decoding, which would need a
// buffer the size of the image.
func ValidBase64(b []byte, padded bool) bool {
	n := len(b)
	for n > 0 && len(b)-n < 2 && b[n-1] == '=' {
		n--
	}
	switch {
	case n == 0 || n%4 == 1:
		return false
	case (padded || n < len(b)) && len(b)%4 != 0:
		return false
	}
	for _, c := range b[:n] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}
