package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"testing"
)

// FuzzProcessImage feeds arbitrary bytes through Detect and ProcessImage
// with small limits. It must never panic, every error must be an *Error,
// and whenever processing succeeds, the outputs must decode again with the
// decoder for their MIME type, at the reported sizes, without metadata.
func FuzzProcessImage(f *testing.F) {
	if testing.Short() {
		f.Skip("Skipping in short mode")
	}
	seeds := [][]byte{
		mustJPEG(f, gradient(16, 8), 75),
		mustJPEG(f, image.NewGray(image.Rect(0, 0, 8, 8)), 75),
		insertJPEGSegment(mustJPEG(f, gradient(8, 4), 75), 0xE1, exifAPP1(binary.LittleEndian, 6)),
		insertJPEGSegment(mustJPEG(f, gradient(8, 4), 75), 0xE1, exifAPP1(binary.BigEndian, 7)),
		mustPNG(f, gradient(8, 8)),
		mustPNG(f, image.NewNRGBA(image.Rect(0, 0, 4, 4))),
		mustPNG(f, image.NewPaletted(image.Rect(0, 0, 5, 3), color.Palette{color.Black, color.Transparent})),
		mustPNG(f, image.NewGray16(image.Rect(0, 0, 3, 3))),
		bombPNG(100000, 100000),
		bombPNG(4, 4),
		insertGIFExtensions(f, mustGIF(f, animatedGIF(false))),
		mustGIF(f, animatedGIF(true)),
		mustGIF(f, &gif.GIF{Image: []*image.Paletted{image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.White, color.Black})}, Delay: []int{0}}),
		webpLosslessOpaque,
		webpLosslessAlpha,
		webpLossy,
		webpLossyAlpha,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	lim := Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 16, MaxDimension: 1024, MaxFrames: 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		format, err := Detect(b)
		if err != nil {
			errCode(t, err)
			return
		}
		if format.Kind != KindImage {
			return
		}
		res, err := ProcessImage(b, format, lim)
		if err != nil {
			errCode(t, err)
			if res != nil {
				t.Error("non-nil result with error")
			}
			return
		}
		if int64(res.Width)*int64(res.Height) > lim.MaxPixels {
			t.Errorf("accepted %dx%d over MaxPixels", res.Width, res.Height)
		}
		checkOutputs(t, res, false)
		if res.MIME == "image/gif" {
			if _, err := gif.DecodeAll(bytes.NewReader(res.Data)); err != nil {
				t.Errorf("output GIF does not decode: %v", err)
			}
		}
	})
}
