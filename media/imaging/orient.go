package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
)

// EXIF orientation values (TIFF tag 0x0112).
const (
	orientNormal     = 1 // as stored
	orientFlipH      = 2 // mirrored left-right
	orientRotate180  = 3
	orientFlipV      = 4 // mirrored top-bottom
	orientTranspose  = 5 // mirrored along the top-left/bottom-right diagonal
	orientRotate90   = 6 // needs 90° clockwise rotation to display
	orientTransverse = 7 // mirrored along the top-right/bottom-left diagonal
	orientRotate270  = 8 // needs 90° counter-clockwise rotation to display
)

// jpegOrientation returns the EXIF orientation (1..8) of a JPEG file, or 1
// if there is none or it cannot be read. It walks the marker segments up to
// the first scan, and parses the first APP1 "Exif\0\0" segment found.
// Every offset is bounds-checked.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return orientNormal
	}
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return orientNormal
		}
		m := data[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		i += 2
		switch {
		case m == 0x01 || (m >= 0xD0 && m <= 0xD8): // standalone markers
			continue
		case m == 0xD9 || m == 0xDA: // EOI, SOS: no EXIF before the scan
			return orientNormal
		}
		if i+2 > len(data) {
			return orientNormal
		}
		n := int(binary.BigEndian.Uint16(data[i:]))
		if n < 2 || n > len(data)-i {
			return orientNormal
		}
		seg := data[i+2 : i+n]
		if m == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return exifOrientation(seg[6:])
		}
		i += n
	}
	return orientNormal
}

// exifOrientation reads tag 0x0112 from IFD0 of a TIFF structure (either
// byte order). It returns 1 for anything missing, malformed or out of range.
func exifOrientation(tiff []byte) int {
	if len(tiff) < 8 {
		return orientNormal
	}
	var bo binary.ByteOrder
	switch string(tiff[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return orientNormal
	}
	if bo.Uint16(tiff[2:]) != 42 {
		return orientNormal
	}
	size := uint64(len(tiff))
	off := uint64(bo.Uint32(tiff[4:]))
	if off < 8 || off+2 > size {
		return orientNormal
	}
	count := uint64(bo.Uint16(tiff[off:]))
	for k := uint64(0); k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > size {
			return orientNormal
		}
		if bo.Uint16(tiff[e:]) != 0x0112 {
			continue
		}
		typ, n := bo.Uint16(tiff[e+2:]), bo.Uint32(tiff[e+4:])
		if n != 1 {
			return orientNormal
		}
		var v uint32
		switch typ {
		case 3: // SHORT
			v = uint32(bo.Uint16(tiff[e+8:]))
		case 4: // LONG
			v = bo.Uint32(tiff[e+8:])
		default:
			return orientNormal
		}
		if v < orientNormal || v > orientRotate270 {
			return orientNormal
		}
		return int(v)
	}
	return orientNormal
}

// orient returns img transformed so that it displays upright given EXIF
// orientation o. For o == 1 (or invalid) img is returned unchanged. Gray
// images stay gray; everything else becomes *image.RGBA.
func orient(img image.Image, o int) image.Image {
	if o <= orientNormal || o > orientRotate270 {
		return img
	}
	if g, ok := img.(*image.Gray); ok {
		w, h := g.Rect.Dx(), g.Rect.Dy()
		pix, dw, dh := orientPix(g.Pix[g.PixOffset(g.Rect.Min.X, g.Rect.Min.Y):], g.Stride, w, h, 1, o)
		return &image.Gray{Pix: pix, Stride: dw, Rect: image.Rect(0, 0, dw, dh)}
	}
	m := toRGBA(img)
	w, h := m.Rect.Dx(), m.Rect.Dy()
	pix, dw, dh := orientPix(m.Pix, m.Stride, w, h, 4, o)
	return &image.RGBA{Pix: pix, Stride: 4 * dw, Rect: image.Rect(0, 0, dw, dh)}
}

// orientPix applies orientation o to a w x h pixel buffer with bpp bytes per
// pixel and the given row stride, returning a packed buffer and its size.
func orientPix(src []byte, stride, w, h, bpp, o int) (dst []byte, dw, dh int) {
	dw, dh = w, h
	if o >= orientTranspose {
		dw, dh = h, w
	}
	dst = make([]byte, dw*dh*bpp)
	// Destination pixel index = base + sx*stepX + sy*stepY.
	var base, stepX, stepY int
	switch o {
	case orientFlipH:
		base, stepX, stepY = w-1, -1, dw
	case orientRotate180:
		base, stepX, stepY = (h-1)*dw+w-1, -1, -dw
	case orientFlipV:
		base, stepX, stepY = (h-1)*dw, 1, -dw
	case orientTranspose:
		base, stepX, stepY = 0, dw, 1
	case orientRotate90:
		base, stepX, stepY = h-1, dw, -1
	case orientTransverse:
		base, stepX, stepY = (w-1)*dw+h-1, -dw, -1
	case orientRotate270:
		base, stepX, stepY = (w-1)*dw, -dw, 1
	default:
		base, stepX, stepY = 0, 1, dw
	}
	for sy := 0; sy < h; sy++ {
		row := src[sy*stride : sy*stride+w*bpp]
		d := base + sy*stepY
		if bpp == 4 {
			for sx := 0; sx < w; sx++ {
				copy(dst[d*4:d*4+4], row[sx*4:sx*4+4])
				d += stepX
			}
			continue
		}
		for sx := 0; sx < w; sx++ {
			copy(dst[d*bpp:d*bpp+bpp], row[sx*bpp:sx*bpp+bpp])
			d += stepX
		}
	}
	return dst, dw, dh
}
