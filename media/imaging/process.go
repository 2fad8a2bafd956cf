package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Limits bound what [ProcessImage] accepts. A zero or negative field means
// the corresponding [DefaultLimits] value.
type Limits struct {
	MaxBytes     int64 // whole file
	MaxPixels    int64 // width*height of the image (per frame for GIF)
	MaxDimension int   // each of width and height
	MaxFrames    int   // GIF frames
}

// DefaultLimits returns the limits used for ordinary uploads: 16 MiB,
// 33,177,600 pixels (7680x4320), 16384 px per side and 1000 GIF frames.
func DefaultLimits() Limits {
	return Limits{
		MaxBytes:     16 << 20,
		MaxPixels:    7680 * 4320,
		MaxDimension: 16384,
		MaxFrames:    1000,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = d.MaxPixels
	}
	if l.MaxDimension <= 0 {
		l.MaxDimension = d.MaxDimension
	}
	if l.MaxFrames <= 0 {
		l.MaxFrames = d.MaxFrames
	}
	return l
}

// gifTotalPixelFactor bounds the sum of all GIF frames' areas to this many
// times Limits.MaxPixels, since every frame is held in memory (one byte per
// pixel) while the animation is re-encoded.
const gifTotalPixelFactor = 4

// Image is a processed image ready to store and serve.
type Image struct {
	// Data is the re-encoded original: no metadata, orientation applied.
	// JPEG in gives JPEG out, PNG gives PNG, GIF gives GIF (animation kept,
	// re-encoded), WebP gives PNG if it has transparency, else JPEG.
	Data []byte
	// MIME and Ext describe Data, e.g. "image/jpeg" and "jpg".
	MIME, Ext string
	// Width and Height are those of Data (after orientation; the logical
	// screen for GIF).
	Width, Height int
	// Preview is at most PreviewSize px on its long side, never upscaled:
	// JPEG, or PNG if the image has transparency. For GIF it shows the
	// first frame.
	Preview []byte
	// PreviewMIME and PreviewExt describe Preview.
	PreviewMIME, PreviewExt string
	// PreviewWidth and PreviewHeight are the dimensions of Preview.
	PreviewWidth, PreviewHeight int
	// Blurhash has 4x3 components (3x4 for portrait images), computed from
	// a downscale of at most 32 px per side. Transparent areas count as black.
	Blurhash string
}

// PreviewSize is the maximum length in pixels of the long side of
// [Image.Preview].
const PreviewSize = 640

// previewScaler returns the resampling filter for previews and the blurhash
// input: the tent (bilinear) kernel, widened with the scale factor so that
// downscaling averages every source pixel instead of skipping some. It is
// about twice as fast as CatmullRom here, which matters little for quality
// at preview sizes (ApproxBiLinear is faster still but aliases when
// shrinking by more than 2x).
func previewScaler() draw.Scaler { return draw.BiLinear }

// Encoder settings.
const (
	jpegQuality  = 85
	blurhashSize = 32
)

// ProcessImage validates and processes an image of format f, which should
// come from [Detect] on the same data; data must hold the whole file.
//
// Checks happen in this order: len(data) against lim.MaxBytes
// ([ErrTooLarge]); f must be an image format that Detect also finds in data
// ([ErrUnsupported]; also for animated WebP); the header's dimensions
// against lim.MaxDimension and lim.MaxPixels, and for GIF the number of
// frames against lim.MaxFrames and the sum of all frames' areas against
// 4*lim.MaxPixels, all read from the block structure without decompressing
// ([ErrTooManyPixels]); then the pixels are decoded by that format's decoder
// only ([ErrCorrupt] on failure), the JPEG EXIF orientation is applied, and
// the result is re-encoded without any metadata (JPEG at quality 85).
// Every error is an *[Error]; on error the *Image is nil.
func ProcessImage(data []byte, f Format, lim Limits) (*Image, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxBytes {
		return nil, errTooLarge(lim.MaxBytes)
	}
	if f.Kind != KindImage {
		return nil, errUnsupported(fmt.Errorf("kind %q is not an image", f.Kind))
	}
	got, err := Detect(data)
	if err != nil {
		return nil, err
	}
	if got.MIME != f.MIME {
		return nil, errUnsupported(fmt.Errorf("content is %s, not %s", got.MIME, f.MIME))
	}
	var res *Image
	switch f.MIME {
	case mimeJPEG:
		res, err = processJPEG(data, lim)
	case mimePNG:
		res, err = processPNG(data, lim)
	case mimeGIF:
		res, err = processGIF(data, lim)
	case mimeWebP:
		res, err = processWebP(data, lim)
	default:
		return nil, errUnsupported(fmt.Errorf("%s is not an image format", f.MIME))
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, errCorrupt(err)
	}
	return res, nil
}

// checkHeader reads data's header with decodeConfig (the format's own) and
// refuses an image whose dimensions exceed lim, before any pixel data is
// decoded.
func checkHeader(data []byte, lim Limits, decodeConfig func(io.Reader) (image.Config, error)) (image.Config, error) {
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return cfg, errCorrupt(err)
	}
	w, h := cfg.Width, cfg.Height
	if w <= 0 || h <= 0 {
		return cfg, errCorrupt(fmt.Errorf("invalid dimensions %dx%d", w, h))
	}
	if w > lim.MaxDimension || h > lim.MaxDimension || int64(w)*int64(h) > lim.MaxPixels {
		return cfg, errPixels(msgDimensions, fmt.Errorf("%dx%d exceeds limits", w, h))
	}
	return cfg, nil
}

func processJPEG(data []byte, lim Limits) (*Image, error) {
	_, err := checkHeader(data, lim, jpeg.DecodeConfig)
	if err != nil {
		return nil, err
	}
	orientation := jpegOrientation(data)
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errCorrupt(err)
	}
	img = orient(img, orientation)
	out, err := encodeJPEG(img)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	res := &Image{Data: out, MIME: mimeJPEG, Ext: "jpg", Width: b.Dx(), Height: b.Dy()}
	return res, addPreview(res, img, false)
}

func processPNG(data []byte, lim Limits) (*Image, error) {
	_, err := checkHeader(data, lim, png.DecodeConfig)
	if err != nil {
		return nil, err
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errCorrupt(err)
	}
	out, err := encodePNG(img)
	if err != nil {
		return nil, err
	}
	b := img.Bounds()
	res := &Image{Data: out, MIME: mimePNG, Ext: "png", Width: b.Dx(), Height: b.Dy()}
	return res, addPreview(res, img, !isOpaque(img))
}

func processWebP(data []byte, lim Limits) (*Image, error) {
	// The VP8X header's flags say whether the file is animated, which the
	// decoder does not support; say so rather than "damaged".
	if len(data) >= 21 && string(data[12:16]) == "VP8X" && data[20]&0x02 != 0 {
		return nil, &Error{Code: ErrUnsupported, Msg: msgAnimatedWebP}
	}
	cfg, err := checkHeader(data, lim, webp.DecodeConfig)
	if err != nil {
		return nil, err
	}
	img, err := webp.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, errCorrupt(err)
	}
	b := img.Bounds()
	if b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		return nil, errCorrupt(fmt.Errorf("decoded %v, header said %dx%d", b, cfg.Width, cfg.Height))
	}
	return stillImage(img)
}

// stillImage encodes a decoded image with its preview and blurhash: PNG
// if it has transparency, JPEG otherwise.
func stillImage(img image.Image) (*Image, error) {
	b := img.Bounds()
	res := &Image{Width: b.Dx(), Height: b.Dy()}
	transparent := !isOpaque(img)
	var err error
	if transparent {
		res.MIME, res.Ext = mimePNG, "png"
		res.Data, err = encodePNG(toNRGBA(img))
	} else {
		res.MIME, res.Ext = mimeJPEG, "jpg"
		res.Data, err = encodeJPEG(img)
	}
	if err != nil {
		return nil, err
	}
	return res, addPreview(res, img, transparent)
}

// isOpaque reports whether every pixel of img is fully opaque.
func isOpaque(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if _, _, _, a := img.At(x, y).RGBA(); a != 0xffff {
				return false
			}
		}
	}
	return true
}

// toRGBA returns img as an *image.RGBA with bounds starting at (0, 0).
func toRGBA(img image.Image) *image.RGBA {
	if m, ok := img.(*image.RGBA); ok && m.Rect.Min == (image.Point{}) {
		return m
	}
	b := img.Bounds()
	m := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(m, m.Rect, img, b.Min, draw.Src)
	return m
}

// toNRGBA returns img as an *image.NRGBA (non-premultiplied, as PNG stores
// it), converting YCbCr-with-alpha directly to avoid a lossy
// premultiplication round trip.
func toNRGBA(img image.Image) *image.NRGBA {
	switch m := img.(type) {
	case *image.NRGBA:
		return m
	case *image.NYCbCrA:
		b := m.Rect
		out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := out.Pix[(y-b.Min.Y)*out.Stride:]
			for x := b.Min.X; x < b.Max.X; x++ {
				yi, ci, ai := m.YOffset(x, y), m.COffset(x, y), m.AOffset(x, y)
				r, g, bl := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
				i := (x - b.Min.X) * 4
				row[i], row[i+1], row[i+2], row[i+3] = r, g, bl, m.A[ai]
			}
		}
		return out
	}
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, img, b.Min, draw.Src)
	return out
}

func encodeJPEG(img image.Image) ([]byte, error) {
	switch img.(type) {
	case *image.YCbCr, *image.RGBA, *image.Gray:
		// The encoder has fast paths for these.
	default:
		img = toRGBA(img)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return nil, &Error{Code: ErrCorrupt, Msg: msgCorruptImage, Err: fmt.Errorf("encoding JPEG: %w", err)}
	}
	return buf.Bytes(), nil
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.DefaultCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, &Error{Code: ErrCorrupt, Msg: msgCorruptImage, Err: fmt.Errorf("encoding PNG: %w", err)}
	}
	return buf.Bytes(), nil
}

// fit returns w x h scaled down, keeping the aspect ratio, so that neither
// side exceeds max; it never scales up and never returns a zero side.
func fit(w, h, max int) (int, int) {
	if w <= max && h <= max {
		return w, h
	}
	if w >= h {
		return max, clampSide((h*max + w/2) / w)
	}
	return clampSide((w*max + h/2) / h), max
}

func clampSide(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// addPreview fills in res's preview and blurhash from img, the final
// (oriented) image.
func addPreview(res *Image, img image.Image, transparent bool) error {
	b := img.Bounds()
	pw, ph := fit(b.Dx(), b.Dy(), PreviewSize)
	var prev *image.RGBA
	if pw == b.Dx() && ph == b.Dy() {
		prev = toRGBA(img)
	} else {
		src := img
		switch img.(type) {
		case *image.YCbCr, *image.RGBA, *image.NRGBA, *image.Gray:
			// The scaler has fast paths for these.
		default:
			src = toRGBA(img)
		}
		prev = image.NewRGBA(image.Rect(0, 0, pw, ph))
		previewScaler().Scale(prev, prev.Rect, src, src.Bounds(), draw.Src, nil)
	}
	var err error
	if transparent {
		res.Preview, err = encodePNG(prev)
		res.PreviewMIME, res.PreviewExt = mimePNG, "png"
	} else {
		res.Preview, err = encodeJPEG(prev)
		res.PreviewMIME, res.PreviewExt = mimeJPEG, "jpg"
	}
	if err != nil {
		return err
	}
	res.PreviewWidth, res.PreviewHeight = pw, ph

	sw, sh := fit(pw, ph, blurhashSize)
	small := prev
	if sw != pw || sh != ph {
		small = image.NewRGBA(image.Rect(0, 0, sw, sh))
		previewScaler().Scale(small, small.Rect, prev, prev.Rect, draw.Src, nil)
	}
	nx, ny := 4, 3
	if res.Height > res.Width {
		nx, ny = 3, 4
	}
	res.Blurhash = blurhash(small, nx, ny)
	return nil
}
