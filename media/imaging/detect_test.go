package imaging

import (
	"image"
	"image/gif"
	"testing"
)

// ftyp returns an ftyp box with the given major and compatible brands.
func ftyp(major string, compat ...string) []byte {
	b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
	b = append(b, "ftyp"...)
	b = append(b, major...)
	b = append(b, 0, 0, 2, 0)
	for _, c := range compat {
		b = append(b, c...)
	}
	return append(b, 0, 0, 0, 8, 'f', 'r', 'e', 'e')
}

func TestDetect(t *testing.T) {
	jpg := mustJPEG(t, gradient(8, 8), 90)
	pngData := mustPNG(t, gradient(8, 8))
	gifData := mustGIF(t, animatedGIF(false))
	tests := []struct {
		name string
		head []byte
		want Format // zero: ErrUnsupported expected
	}{
		{"jpeg", jpg, Format{KindImage, "image/jpeg", "jpg"}},
		{"png", pngData, Format{KindImage, "image/png", "png"}},
		{"gif89a", gifData, Format{KindImage, "image/gif", "gif"}},
		{"gif87a", []byte("GIF87a\x01\x00\x01\x00"), Format{KindImage, "image/gif", "gif"}},
		{"webp lossless", webpLosslessOpaque, Format{KindImage, "image/webp", "webp"}},
		{"webp lossy", webpLossy, Format{KindImage, "image/webp", "webp"}},
		{"mp4 isom", ftyp("isom", "isom", "avc1"), Format{KindVideo, "video/mp4", "mp4"}},
		{"mp4 mp42", ftyp("mp42", "mp41"), Format{KindVideo, "video/mp4", "mp4"}},
		{"m4v", ftyp("M4V ", "M4V ", "mp42"), Format{KindVideo, "video/mp4", "mp4"}},
		{"3gp", ftyp("3gp5", "3gp5"), Format{KindVideo, "video/mp4", "mp4"}},
		{"mp4 unknown major, compatible isom", ftyp("abcd", "isom"), Format{KindVideo, "video/mp4", "mp4"}},
		{"mov", ftyp("qt  ", "qt  "), Format{KindVideo, "video/quicktime", "mov"}},
		{"m4a", ftyp("M4A ", "M4A ", "mp42", "isom"), Format{KindAudio, "audio/mp4", "m4a"}},
		{"heic is unsupported", ftyp("heic", "mif1", "heic"), Format{}},
		{"avif is unsupported", ftyp("avif", "avif", "mif1", "miaf"), Format{}},
		{"avif under unknown major is unsupported", ftyp("abcd", "isom", "avif"), Format{}},
		{"ftyp unknown brands", ftyp("abcd", "efgh"), Format{}},
		{"webm", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'}, Format{KindVideo, "video/webm", "webm"}},
		{"matroska", []byte{0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a'}, Format{KindVideo, "video/webm", "webm"}},
		{"ogg", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"), Format{KindAudio, "audio/ogg", "ogg"}},
		{"mp3 id3v2.4", []byte("ID3\x04\x00\x00\x00\x00\x00\x21TIT2"), Format{KindAudio, "audio/mpeg", "mp3"}},
		{"mp3 id3v2.3", []byte("ID3\x03\x00\x00\x00\x00\x00\x21TIT2"), Format{KindAudio, "audio/mpeg", "mp3"}},
		{"mp3 frame mpeg1 layer3 128k", []byte{0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0}, Format{KindAudio, "audio/mpeg", "mp3"}},
		{"mp3 frame mpeg2 layer3", []byte{0xFF, 0xF3, 0x48, 0xC4, 0, 0, 0, 0}, Format{KindAudio, "audio/mpeg", "mp3"}},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"), Format{KindAudio, "audio/wav", "wav"}},

		{"empty", nil, Format{}},
		{"text", []byte("Hello, world! This is plain text.\n"), Format{}},
		{"html", []byte("<!DOCTYPE html><html><body>x</body></html>"), Format{}},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`), Format{}},
		{"pdf", []byte("%PDF-1.7\n"), Format{}},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00"), Format{}},
		{"bmp", []byte("BM\x36\x00\x00\x00\x00\x00"), Format{}},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), Format{}},
		{"avi riff", []byte("RIFF\x24\x00\x00\x00AVI LIST"), Format{}},
		{"short riff", []byte("RIFF\x24\x00"), Format{}},
		{"short jpeg", []byte{0xFF, 0xD8}, Format{}},
		{"short png", []byte("\x89PNG\r\n"), Format{}},
		{"aac adts is not mp3", []byte{0xFF, 0xF1, 0x50, 0x80, 0, 0, 0}, Format{}},
		{"mpeg sync with bad bitrate", []byte{0xFF, 0xFB, 0xF0, 0x64}, Format{}},
		{"mpeg sync with reserved version", []byte{0xFF, 0xEB, 0x90, 0x64}, Format{}},
		{"id3 with bad version", []byte("ID3\xff\x00\x00\x00\x00\x00\x21"), Format{}},
		{"short ftyp", []byte("\x00\x00\x00\x10ftyp"), Format{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(tt.head)
			if tt.want == (Format{}) {
				if err == nil {
					t.Fatalf("Detect = %+v, want ErrUnsupported", got)
				}
				if c := errCode(t, err); c != ErrUnsupported {
					t.Fatalf("code = %v, want %v", c, ErrUnsupported)
				}
				if got != (Format{}) {
					t.Errorf("format = %+v on error, want zero", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if got != tt.want {
				t.Errorf("Detect = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDetectPrefixes checks that no prefix of a valid file makes Detect
// panic, that it never returns a format for a prefix that is too short to
// tell, and that once it can tell it returns the whole file's format.
func TestDetectPrefixes(t *testing.T) {
	g := mustGIF(t, &gif.GIF{Image: []*image.Paletted{image.NewPaletted(image.Rect(0, 0, 1, 1), animatedGIF(false).Image[0].Palette)}, Delay: []int{0}})
	for _, tt := range []struct {
		data []byte
		min  int // bytes needed to tell: the signature's length
	}{
		{mustJPEG(t, gradient(4, 4), 80), 3},
		{g, 6},
		{webpLossyAlpha, 12},
		{ftyp("isom", "mp41"), 12},
	} {
		want, err := Detect(tt.data)
		if err != nil {
			t.Fatalf("Detect(whole file): %v", err)
		}
		for n := 0; n <= len(tt.data); n++ {
			got, err := Detect(tt.data[:n])
			switch {
			case n < tt.min && err == nil:
				t.Errorf("%s, %d bytes: Detect = %+v, want ErrUnsupported", want.MIME, n, got)
			case n < tt.min:
				if c := errCode(t, err); c != ErrUnsupported {
					t.Errorf("%s, %d bytes: code %v, want ErrUnsupported", want.MIME, n, c)
				}
			case err != nil || got != want:
				t.Errorf("%s, %d bytes: Detect = %+v, %v, want %+v", want.MIME, n, got, err, want)
			}
		}
	}
}
