package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"
)

// Sizes of profile images, Mastodon's: avatars are cropped to a square,
// headers to 3:1.
const (
	AvatarWidth, AvatarHeight = 400, 400
	HeaderWidth, HeaderHeight = 1500, 500
)

// ProcessProfileImage processes an avatar or a header: every check and
// step of [ProcessImage] (so no metadata survives), then the image (the
// first frame of an animation) is cropped around its centre to the aspect
// ratio of w x h and scaled down to w x h, never up. Data is a still JPEG,
// or PNG if the image has transparency; Preview and Blurhash are made from
// it as for any image.
func ProcessProfileImage(data []byte, f Format, lim Limits, w, h int) (*Image, error) {
	if w <= 0 || h <= 0 {
		return nil, errUnsupported(fmt.Errorf("invalid target size %dx%d", w, h))
	}
	res, err := ProcessImage(data, f, lim)
	if err != nil {
		return nil, err
	}
	img, err := decodeProcessed(res)
	if err != nil {
		return nil, errCorrupt(err)
	}
	return stillImage(fill(img, w, h))
}

// decodeProcessed decodes what ProcessImage wrote, with the decoder of the
// format it wrote (JPEG or PNG; for GIF, the preview of the first frame).
func decodeProcessed(res *Image) (image.Image, error) {
	data, mime := res.Data, res.MIME
	if mime == mimeGIF {
		data, mime = res.Preview, res.PreviewMIME
	}
	if mime == mimePNG {
		return png.Decode(bytes.NewReader(data))
	}
	return jpeg.Decode(bytes.NewReader(data))
}

// fill crops img around its centre to the aspect ratio w:h and scales it
// down to w x h (a smaller crop keeps its size).
func fill(img image.Image, w, h int) *image.RGBA {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	cw, ch := sw, sh
	if int64(sw)*int64(h) > int64(sh)*int64(w) {
		cw = clampSide(int(int64(sh) * int64(w) / int64(h)))
	} else {
		ch = clampSide(int(int64(sw) * int64(h) / int64(w)))
	}
	x0, y0 := b.Min.X+(sw-cw)/2, b.Min.Y+(sh-ch)/2
	crop := image.Rect(x0, y0, x0+cw, y0+ch)
	tw, th := w, h
	if cw < w {
		tw, th = cw, ch
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.CatmullRom.Scale(dst, dst.Rect, img, crop, draw.Src, nil)
	return dst
}
