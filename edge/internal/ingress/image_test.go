package ingress

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

// One-pixel images of each type edgeway sniffs.
const (
	pngB64  = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
	jpegB64 = "/9j/4AAQSkZJRgABAQAAAQABAAD/2Q=="
	gifB64  = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
	webpB64 = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="
)

func TestImageDataURL(t *testing.T) {
	tests := []struct {
		name, in, want, why string
	}{
		{"png", pngB64, "data:image/png;base64," + pngB64, ""},
		{"jpeg", jpegB64, "data:image/jpeg;base64," + jpegB64, ""},
		{"gif", gifB64, "data:image/gif;base64," + gifB64, ""},
		{"webp", webpB64, "data:image/webp;base64," + webpB64, ""},
		{"data URL retyped", "data:image/jpeg;base64," + gifB64, "data:image/gif;base64," + gifB64, ""},
		{"line breaks", gifB64[:8] + "\r\n" + gifB64[8:], "data:image/gif;base64," + gifB64, ""},
		{"riff but not webp", "UklGRhoAAABXQVZFZm10IA==", "", ErrImageType},
		{"too short to sniff", "iVBO", "", ErrImageType},
		{"padding mid-string", "iVBO" + "==" + "AAAA", "", ErrImageBase64},
		// Padding that would end a 1024-byte block but not the string.
		{"padding at a block edge", strings.Repeat("A", 1022) + "==" + "AAAA", "", ErrImageBase64},
		{"unpadded", "iVBORw0KGgoA" + "AA", "", ErrImageBase64},
		{"long valid", "iVBORw0KGgoA" + strings.Repeat("A", 4000) + "AA==", "data:image/png;base64,iVBORw0KGgoA" + strings.Repeat("A", 4000) + "AA==", ""},
		{"url-safe alphabet", "_-__", "", ErrImageBase64},
		{"data URL without base64", "data:image/png;utf8,x", "", ErrImageBase64},
		{"empty data URL", "data:image/png;base64,", "", ErrImageEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := ImageDataURL([]byte(tt.in))
			if got != tt.want || why != tt.why {
				t.Errorf("ImageDataURL = %.60q, %q; want %.60q, %q", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestValidBase64(t *testing.T) {
	tests := []struct {
		in            string
		padded, loose bool // want with padding required, and optional
	}{
		{"R0lG", true, true},
		{"R0lGOA==", true, true},
		{"R0lGOA", false, true},
		{"R0lGODl", false, true},
		{"R0lGODlh=", false, false},
		{"R0lGO", false, false},
		{"R0lGOA=", false, false},
		{"", false, false},
		{"====", false, false},
		{"R0l=GODl", false, false},
		{"R0lG\n", false, false},
	}
	for _, tt := range tests {
		if got := ValidBase64([]byte(tt.in), true); got != tt.padded {
			t.Errorf("ValidBase64(%q, padded) = %v, want %v", tt.in, got, tt.padded)
		}
		if got := ValidBase64([]byte(tt.in), false); got != tt.loose {
			t.Errorf("ValidBase64(%q, unpadded) = %v, want %v", tt.in, got, tt.loose)
		}
	}
}

// FuzzImageDataURL checks the image reader against encoding/base64: it
// accepts exactly the base64 that decodes, and what it accepts is a data:
// URL of the sniffed type.
func FuzzImageDataURL(f *testing.F) {
	for _, s := range []string{pngB64, "data:image/png;base64," + gifB64, webpB64[:10] + "\n" + webpB64[10:], "R0lGOA", "iVBO==AA", "data:,"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if !bytes.ContainsAny(in, "\r\n") && len(in) > 0 {
			_, errStd := base64.StdEncoding.DecodeString(string(in))
			_, errRaw := base64.RawStdEncoding.DecodeString(string(in))
			if got := ValidBase64(in, true); got != (errStd == nil) {
				t.Fatalf("ValidBase64(%q, padded) = %v, encoding/base64 says %v", in, got, errStd)
			}
			if got := ValidBase64(in, false); got != (errStd == nil || errRaw == nil) {
				t.Fatalf("ValidBase64(%q, unpadded) = %v, encoding/base64 says %v, %v", in, got, errStd, errRaw)
			}
		}
		url, why := ImageDataURL(in)
		if (url == "") == (why == "") {
			t.Fatalf("ImageDataURL(%q) = %q, %q", in, url, why)
		}
		if url == "" {
			return
		}
		media, b64, ok := strings.Cut(strings.TrimPrefix(url, "data:"), ";base64,")
		b, err := base64.StdEncoding.DecodeString(b64)
		if !ok || err != nil || SniffImage(b) != media {
			t.Fatalf("ImageDataURL(%q) = %.80q, not a data: URL of its type (%v)", in, url, err)
		}
	})
}
