package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Test fixtures are generated in code; the WebP ones are tiny byte literals.

// webpLosslessOpaque is a hand-written 3x2 lossless WebP (RIFF/WEBP/VP8L)
// filled with opaque orange (255,128,0). VP8L bitstream, LSB first: 0x2f
// signature; width-1=2 and height-1=1 (14 bits each); alpha_is_used=0;
// version=0 (3 bits); no transform, no color cache, no meta prefix codes
// (1 bit each); then five "simple" prefix codes with a single symbol each
// (bits 1,0,1 then an 8-bit symbol: green 0x80, red 0xff, blue 0x00, alpha
// 0xff; distance: 1,0,0 then 1-bit symbol 0). A single-symbol code takes
// zero bits per pixel, so no pixel data follows.
var webpLosslessOpaque = []byte{
	'R', 'I', 'F', 'F', 0x18, 0x00, 0x00, 0x00, 'W', 'E', 'B', 'P',
	'V', 'P', '8', 'L', 0x0c, 0x00, 0x00, 0x00,
	0x2f, 0x02, 0x40, 0x00, 0x00, 0x28, 0x60, 0xff, 0x0b, 0xd0, 0xff, 0x00,
}

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

// secret is embedded in metadata of fixtures; it must never be in output.
const secret = "SECRET-METADATA-51.5N"

// gradient returns a w x h opaque test image with smooth gradients and a
// little texture, so that JPEG sizes and timings are realistic.
func gradient(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := m.PixOffset(x, y)
			m.Pix[i+0] = uint8(x * 255 / w)
			m.Pix[i+1] = uint8(y * 255 / h)
			m.Pix[i+2] = uint8((x*7 + y*13) % 256)
			m.Pix[i+3] = 0xff
		}
	}
	return m
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

// insertJPEGSegment inserts a marker segment right after SOI.
func insertJPEGSegment(jpg []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// exifAPP1 returns an APP1 payload "Exif\0\0" + TIFF with IFD0 holding
// Orientation and a GPSInfo pointer to a GPS IFD (latitude 51°30'N), plus an
// ImageDescription containing secret.
func exifAPP1(bo byteOrder, orientation uint16) []byte {
	var t []byte
	if bo.String() == binary.LittleEndian.String() {
		t = []byte("II")
	} else {
		t = []byte("MM")
	}
	t = bo.AppendUint16(t, 42)
	t = bo.AppendUint32(t, 8)
	// IFD0 at 8: 3 entries (2+36+4 = 42 bytes) → GPS IFD at 50.
	const gpsIFD = 8 + 2 + 3*12 + 4
	// GPS IFD: 2 entries (2+24+4 = 30 bytes) → rationals at 80, then text.
	const rationals = gpsIFD + 2 + 2*12 + 4
	const desc = rationals + 24
	entry := func(tag, typ uint16, count, value uint32) {
		t = bo.AppendUint16(t, tag)
		t = bo.AppendUint16(t, typ)
		t = bo.AppendUint32(t, count)
		t = bo.AppendUint32(t, value)
	}
	t = bo.AppendUint16(t, 3)
	entry(0x010E, 2, uint32(len(secret)+1), desc) // ImageDescription
	// Orientation: SHORT, left-justified in the 4-byte value field.
	t = bo.AppendUint16(t, 0x0112)
	t = bo.AppendUint16(t, 3)
	t = bo.AppendUint32(t, 1)
	t = bo.AppendUint16(t, orientation)
	t = bo.AppendUint16(t, 0)
	entry(0x8825, 4, 1, gpsIFD) // GPSInfo
	t = bo.AppendUint32(t, 0)
	// GPS IFD.
	t = bo.AppendUint16(t, 2)
	t = bo.AppendUint16(t, 0x0001) // GPSLatitudeRef "N"
	t = bo.AppendUint16(t, 2)
	t = bo.AppendUint32(t, 2)
	t = append(t, 'N', 0, 0, 0)
	entry(0x0002, 5, 3, rationals) // GPSLatitude
	t = bo.AppendUint32(t, 0)
	for _, r := range [][2]uint32{{51, 1}, {30, 1}, {1234, 100}} {
		t = bo.AppendUint32(t, r[0])
		t = bo.AppendUint32(t, r[1])
	}
	t = append(t, secret...)
	t = append(t, 0)
	return append([]byte("Exif\x00\x00"), t...)
}

// byteOrder is implemented by binary.LittleEndian and binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pngChunk returns a PNG chunk with a correct CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
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

// bombPNG returns a valid PNG signature and IHDR claiming w x h RGB pixels,
// followed by a tiny IDAT and IEND.
func bombPNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	// zlib stream of a few zero bytes (stored block).
	idat := []byte{0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x01}
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", idat)...)
	return append(out, pngChunk("IEND", nil)...)
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
