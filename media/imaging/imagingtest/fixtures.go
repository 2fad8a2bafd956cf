// Package imagingtest builds test files for media code: ordinary images,
// images with EXIF metadata (orientation and GPS position), a minimal WebP
// and decompression bombs. Tests only.
package imagingtest

import (
	"encoding/binary"
	"hash/crc32"
	"image"
)

// WebPLossless is a hand-written 3x2 lossless WebP (RIFF/WEBP/VP8L)
// filled with opaque orange (255,128,0). VP8L bitstream, LSB first: 0x2f
// signature; width-1=2 and height-1=1 (14 bits each); alpha_is_used=0;
// version=0 (3 bits); no transform, no color cache, no meta prefix codes
// (1 bit each); then five "simple" prefix codes with a single symbol each
// (bits 1,0,1 then an 8-bit symbol: green 0x80, red 0xff, blue 0x00, alpha
// 0xff; distance: 1,0,0 then 1-bit symbol 0). A single-symbol code takes
// zero bits per pixel, so no pixel data follows.
var WebPLossless = []byte{
	'R', 'I', 'F', 'F', 0x18, 0x00, 0x00, 0x00, 'W', 'E', 'B', 'P',
	'V', 'P', '8', 'L', 0x0c, 0x00, 0x00, 0x00,
	0x2f, 0x02, 0x40, 0x00, 0x00, 0x28, 0x60, 0xff, 0x0b, 0xd0, 0xff, 0x00,
}

// Secret is embedded in metadata of fixtures; it must never be in output.
const Secret = "SECRET-METADATA-51.5N"

// Gradient returns a w x h opaque test image with smooth gradients and a
// little texture, so that JPEG sizes and timings are realistic.
func Gradient(w, h int) *image.RGBA {
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

// InsertJPEGSegment inserts a marker segment right after SOI.
func InsertJPEGSegment(jpg []byte, marker byte, payload []byte) []byte {
	seg := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// ExifAPP1 returns an APP1 payload "Exif\0\0" + TIFF with IFD0 holding
// Orientation and a GPSInfo pointer to a GPS IFD (latitude 51°30'N), plus an
// ImageDescription containing Secret.
func ExifAPP1(bo ByteOrder, orientation uint16) []byte {
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
	entry(0x010E, 2, uint32(len(Secret)+1), desc) // ImageDescription
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
	t = append(t, Secret...)
	t = append(t, 0)
	return append([]byte("Exif\x00\x00"), t...)
}

// ByteOrder is implemented by binary.LittleEndian and binary.BigEndian.
type ByteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// PNGChunk returns a PNG chunk with a correct CRC.
func PNGChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// BombPNG returns a valid PNG signature and IHDR claiming w x h RGB pixels,
// followed by a tiny IDAT and IEND.
func BombPNG(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	// zlib stream of a few zero bytes (stored block).
	idat := []byte{0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x01}
	out := []byte("\x89PNG\r\n\x1a\n")
	out = append(out, PNGChunk("IHDR", ihdr)...)
	out = append(out, PNGChunk("IDAT", idat)...)
	return append(out, PNGChunk("IEND", nil)...)
}
