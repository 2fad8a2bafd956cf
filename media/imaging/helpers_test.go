package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/starling-social/starling/media/imaging/imagingtest"
)

// Test fixtures are generated in code; the WebP ones are tiny byte literals.

// webpLosslessAlpha is webpLosslessOpaque with alpha_is_used=1 and an alpha
// symbol of 0x80: 3x2 half-transparent orange.
var webpLosslessAlpha = []byte{
	'R', 'I', 'F', 'F', 0x18, 0x00, 0x00, 0x00, 'W', 'E', 'B', 'P',
	'V', 'P', '8', 'L', 0x0c, 0x00, 0x00, 0x00,
	0x2f, 0x02, 0x40, 0x00, 0x10, 0x28, 0x60, 0xff, 0x0b, 0x50, 0xc0, 0x00,
}

// webpLossy is a 16x16 lossy WebP (simple format, VP8 chunk) of a gradient,
// made with libwebp's cwebp 1.2.4 (-q 30 -m 6).
var webpLossy = []byte{
	0x52, 0x49, 0x46, 0x46, 0x42, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x20,
	0x36, 0x00, 0x00, 0x00, 0xd0, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 0x04, 0x00,
	0x68, 0x25, 0xb0, 0x02, 0x74, 0x7f, 0x00, 0x18, 0x14, 0x51, 0x78, 0x00, 0xfe, 0xf1, 0x7e, 0x6c,
	0x9f, 0xa5, 0x67, 0x6f, 0x47, 0xd1, 0x19, 0x57, 0x3e, 0xfc, 0x97, 0xa1, 0x57, 0xac, 0x04, 0x26,
	0xf3, 0xfa, 0x63, 0xf2, 0xfd, 0xbb, 0x55, 0x6d, 0x00, 0x00,
}

// webpLossyAlpha is a 16x16 lossy WebP with alpha (VP8X + ALPH + VP8) whose
// left half is transparent, made with cwebp 1.2.4 (-q 30 -m 6 -alpha_q 30).
var webpLossyAlpha = []byte{
	0x52, 0x49, 0x46, 0x46, 0x6e, 0x00, 0x00, 0x00, 0x57, 0x45, 0x42, 0x50, 0x56, 0x50, 0x38, 0x58,
	0x0a, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x0f, 0x00, 0x00, 0x41, 0x4c,
	0x50, 0x48, 0x12, 0x00, 0x00, 0x00, 0x11, 0x0f, 0x30, 0xff, 0x11, 0x11, 0x42, 0x2c, 0x98, 0xcc,
	0x5f, 0xba, 0x3b, 0x83, 0x88, 0xfe, 0x87, 0x2e, 0x56, 0x50, 0x38, 0x20, 0x36, 0x00, 0x00, 0x00,
	0xf0, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00, 0x04, 0x00, 0x68, 0x25, 0xa8, 0x02,
	0x74, 0x01, 0x0a, 0x92, 0x22, 0x4d, 0x5a, 0x00, 0x00, 0xfe, 0xf5, 0x6d, 0x96, 0x29, 0xa5, 0x24,
	0xfd, 0xae, 0x8c, 0x36, 0xf5, 0x26, 0x7f, 0x32, 0x70, 0x85, 0xb9, 0xdf, 0x37, 0xf3, 0xad, 0x99,
	0xfc, 0x69, 0xf2, 0x40, 0x00, 0x00,
}

func mustJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustPNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustGIF(t testing.TB, g *gif.GIF) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// insertPNGChunk inserts a chunk right after IHDR.
func insertPNGChunk(p []byte, chunk []byte) []byte {
	const afterIHDR = 8 + 4 + 4 + 13 + 4
	out := append([]byte{}, p[:afterIHDR]...)
	out = append(out, chunk...)
	return append(out, p[afterIHDR:]...)
}

// animatedGIF returns a 3-frame 60x40 animation whose frames are
// sub-rectangles with delays and disposal methods, looping forever, with a
// transparent index in the second frame. local selects per-frame palettes
// instead of a global one.
func animatedGIF(local bool) *gif.GIF {
	pal := color.Palette{
		color.RGBA{0, 0, 0, 255}, color.RGBA{255, 0, 0, 255},
		color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255},
	}
	g := &gif.GIF{LoopCount: 0}
	rects := []image.Rectangle{image.Rect(0, 0, 60, 40), image.Rect(10, 5, 30, 25), image.Rect(30, 20, 60, 40)}
	for i, r := range rects {
		p := pal
		if i == 1 {
			p = append(color.Palette{}, pal...)
			p[0] = color.RGBA{} // transparent
		}
		m := image.NewPaletted(r, p)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				m.SetColorIndex(x, y, uint8((x/5+y/5+i)%4))
			}
		}
		g.Image = append(g.Image, m)
		g.Delay = append(g.Delay, 10*(i+1))
		g.Disposal = append(g.Disposal, []byte{gif.DisposalNone, gif.DisposalBackground, gif.DisposalPrevious}[i])
	}
	if !local {
		g.Config = image.Config{ColorModel: pal, Width: 60, Height: 40}
	} else {
		g.Config = image.Config{Width: 60, Height: 40}
	}
	return g
}

// insertGIFExtensions adds a comment extension and an XMP application
// extension (both holding secret) right before the first block after the
// logical screen descriptor and global color table.
func insertGIFExtensions(t testing.TB, data []byte) []byte {
	t.Helper()
	p := 13
	if data[10]&0x80 != 0 {
		p += 3 << (1 + uint(data[10]&7))
	}
	var ext []byte
	ext = append(ext, 0x21, 0xFE, byte(len(secret)))
	ext = append(ext, secret...)
	ext = append(ext, 0)
	ext = append(ext, 0x21, 0xFF, 11)
	ext = append(ext, "XMP DataXMP"...)
	ext = append(ext, byte(len(secret)))
	ext = append(ext, secret...)
	ext = append(ext, 0)
	out := append([]byte{}, data[:p]...)
	out = append(out, ext...)
	return append(out, data[p:]...)
}

// errCode returns the Code of err, which must be an *Error.
func errCode(t testing.TB, err error) ErrorCode {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	return e.Code
}

// Fixtures shared with other packages' tests live in imagingtest.
var (
	webpLosslessOpaque = imagingtest.WebPLossless
	gradient           = imagingtest.Gradient
	insertJPEGSegment  = imagingtest.InsertJPEGSegment
	exifAPP1           = imagingtest.ExifAPP1
	pngChunk           = imagingtest.PNGChunk
	bombPNG            = imagingtest.BombPNG
)

const secret = imagingtest.Secret

type byteOrder = imagingtest.ByteOrder
