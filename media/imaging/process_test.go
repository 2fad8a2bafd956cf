package imaging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/webp"
)

// decodeAs decodes data with the decoder for mime only.
func decodeAs(mime string, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch mime {
	case "image/jpeg":
		return jpeg.Decode(r)
	case "image/png":
		return png.Decode(r)
	case "image/gif":
		return gif.Decode(r)
	case "image/webp":
		return webp.Decode(r)
	}
	return nil, errors.New("unknown MIME " + mime)
}

// checkImage verifies the invariants every successful result must hold,
// including that no metadata marker strings appear in the outputs.
func checkImage(t testing.TB, res *Image) {
	t.Helper()
	checkOutputs(t, res, true)
}

// checkOutputs verifies that both outputs decode with the decoder for their
// MIME type at the reported sizes, and the preview and blurhash contracts.
// With markers, it also checks that no metadata marker strings appear (not
// meaningful for fuzz inputs, whose raw palette bytes could spell them).
func checkOutputs(t testing.TB, res *Image, markers bool) {
	t.Helper()
	if res == nil {
		t.Fatal("nil result")
	}
	for _, c := range []struct {
		what          string
		data          []byte
		mime, ext     string
		width, height int
	}{
		{"data", res.Data, res.MIME, res.Ext, res.Width, res.Height},
		{"preview", res.Preview, res.PreviewMIME, res.PreviewExt, res.PreviewWidth, res.PreviewHeight},
	} {
		f, err := Detect(c.data)
		if err != nil {
			t.Fatalf("%s: Detect: %v", c.what, err)
		}
		if f.MIME != c.mime || f.Ext != c.ext {
			t.Errorf("%s: detected %s/%s, labelled %s/%s", c.what, f.MIME, f.Ext, c.mime, c.ext)
		}
		m, err := decodeAs(c.mime, c.data)
		if err != nil {
			t.Fatalf("%s: decoding output: %v", c.what, err)
		}
		b := m.Bounds()
		if c.mime == "image/gif" {
			// A GIF's size is its logical screen; frames may be smaller.
			cfg, err := gif.DecodeConfig(bytes.NewReader(c.data))
			if err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
			b = image.Rect(0, 0, cfg.Width, cfg.Height)
		}
		if b.Dx() != c.width || b.Dy() != c.height {
			t.Errorf("%s: decoded %dx%d, labelled %dx%d", c.what, b.Dx(), b.Dy(), c.width, c.height)
		}
		for _, bad := range []string{"Exif", secret, "XMP", "tEXt", "iTXt", "zTXt", "eXIf"} {
			if !markers {
				break
			}
			if bytes.Contains(c.data, []byte(bad)) {
				t.Errorf("%s contains %q", c.what, bad)
			}
		}
	}
	if res.PreviewWidth > PreviewSize || res.PreviewHeight > PreviewSize {
		t.Errorf("preview %dx%d exceeds %d", res.PreviewWidth, res.PreviewHeight, PreviewSize)
	}
	if res.PreviewWidth > res.Width || res.PreviewHeight > res.Height {
		t.Errorf("preview %dx%d upscales %dx%d", res.PreviewWidth, res.PreviewHeight, res.Width, res.Height)
	}
	nx, ny := 4, 3
	if res.Height > res.Width {
		nx, ny = 3, 4
	}
	// Size flag, quantised maximum, 4-digit DC and 2 digits per AC component.
	if want := 1 + 1 + 4 + 2*(nx*ny-1); len(res.Blurhash) != want {
		t.Errorf("blurhash %q has length %d, want %d", res.Blurhash, len(res.Blurhash), want)
	} else if want := base83Alphabet[(nx-1)+(ny-1)*9]; res.Blurhash[0] != want {
		t.Errorf("blurhash %q: size flag %c, want %c", res.Blurhash, res.Blurhash[0], want)
	}
}

func TestProcessImageRoundTrip(t *testing.T) {
	withText := insertPNGChunk(mustPNG(t, gradient(50, 30)), pngChunk("tEXt", []byte("Comment\x00"+secret)))
	transparent := image.NewNRGBA(image.Rect(0, 0, 30, 50))
	for i := range transparent.Pix {
		transparent.Pix[i] = uint8(i)
	}
	paletted := image.NewPaletted(image.Rect(0, 0, 20, 20), color.Palette{color.Black, color.White})
	paletted.Pix[5] = 1
	gray16 := image.NewGray16(image.Rect(0, 0, 17, 9))
	gray16.Pix[3] = 0x80

	tests := []struct {
		name                 string
		data                 []byte
		mime, ext            string
		w, h                 int
		previewMIME          string
		previewW, previewH   int
		checkDecodedPreviewW int
	}{
		{"jpeg", mustJPEG(t, gradient(120, 80), 90), "image/jpeg", "jpg", 120, 80, "image/jpeg", 120, 80, 0},
		{"jpeg gray", mustJPEG(t, image.NewGray(image.Rect(0, 0, 33, 17)), 90), "image/jpeg", "jpg", 33, 17, "image/jpeg", 33, 17, 0},
		{"jpeg large is downscaled", mustJPEG(t, gradient(1300, 700), 80), "image/jpeg", "jpg", 1300, 700, "image/jpeg", 640, 345, 0},
		{"jpeg portrait is downscaled", mustJPEG(t, gradient(500, 1000), 80), "image/jpeg", "jpg", 500, 1000, "image/jpeg", 320, 640, 0},
		{"png opaque with tEXt", withText, "image/png", "png", 50, 30, "image/jpeg", 50, 30, 0},
		{"png transparent", mustPNG(t, transparent), "image/png", "png", 30, 50, "image/png", 30, 50, 0},
		{"png paletted", mustPNG(t, paletted), "image/png", "png", 20, 20, "image/jpeg", 20, 20, 0},
		{"png gray16", mustPNG(t, gray16), "image/png", "png", 17, 9, "image/jpeg", 17, 9, 0},
		{"png large transparent", mustPNG(t, image.NewNRGBA(image.Rect(0, 0, 700, 1400))), "image/png", "png", 700, 1400, "image/png", 320, 640, 0},
		{"gif animated global palette", insertGIFExtensions(t, mustGIF(t, animatedGIF(false))), "image/gif", "gif", 60, 40, "image/jpeg", 60, 40, 0},
		{"gif animated local palettes", mustGIF(t, animatedGIF(true)), "image/gif", "gif", 60, 40, "image/jpeg", 60, 40, 0},
		{"webp lossless opaque", webpLosslessOpaque, "image/jpeg", "jpg", 3, 2, "image/jpeg", 3, 2, 0},
		{"webp lossless alpha", webpLosslessAlpha, "image/png", "png", 3, 2, "image/png", 3, 2, 0},
		{"webp lossy", webpLossy, "image/jpeg", "jpg", 16, 16, "image/jpeg", 16, 16, 0},
		{"webp lossy alpha", webpLossyAlpha, "image/png", "png", 16, 16, "image/png", 16, 16, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Detect(tt.data)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			res, err := ProcessImage(tt.data, f, DefaultLimits())
			if err != nil {
				t.Fatalf("ProcessImage: %v", err)
			}
			checkImage(t, res)
			if res.MIME != tt.mime || res.Ext != tt.ext {
				t.Errorf("output %s/%s, want %s/%s", res.MIME, res.Ext, tt.mime, tt.ext)
			}
			if res.Width != tt.w || res.Height != tt.h {
				t.Errorf("size %dx%d, want %dx%d", res.Width, res.Height, tt.w, tt.h)
			}
			if res.PreviewMIME != tt.previewMIME {
				t.Errorf("preview %s, want %s", res.PreviewMIME, tt.previewMIME)
			}
			if res.PreviewWidth != tt.previewW || res.PreviewHeight != tt.previewH {
				t.Errorf("preview %dx%d, want %dx%d", res.PreviewWidth, res.PreviewHeight, tt.previewW, tt.previewH)
			}
		})
	}
}

func TestProcessGIFKeepsAnimation(t *testing.T) {
	for _, local := range []bool{false, true} {
		src := animatedGIF(local)
		data := insertGIFExtensions(t, mustGIF(t, src))
		res, err := ProcessImage(data, Format{KindImage, "image/gif", "gif"}, DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		g, err := gif.DecodeAll(bytes.NewReader(res.Data))
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Image) != len(src.Image) {
			t.Fatalf("local=%v: %d frames, want %d", local, len(g.Image), len(src.Image))
		}
		if g.LoopCount != src.LoopCount {
			t.Errorf("loop count %d, want %d", g.LoopCount, src.LoopCount)
		}
		for i := range src.Image {
			if g.Delay[i] != src.Delay[i] || g.Disposal[i] != src.Disposal[i] {
				t.Errorf("frame %d: delay/disposal %d/%d, want %d/%d", i, g.Delay[i], g.Disposal[i], src.Delay[i], src.Disposal[i])
			}
			if g.Image[i].Rect != src.Image[i].Rect || !bytes.Equal(g.Image[i].Pix, src.Image[i].Pix) {
				t.Errorf("frame %d differs", i)
			}
		}
		if bytes.Contains(res.Data, []byte(secret)) || bytes.Contains(res.Data, []byte("XMP")) {
			t.Error("comment or XMP extension survived")
		}
	}
}

// TestJPEGOrientation checks all eight EXIF orientations in both TIFF byte
// orders, and that no EXIF (in particular GPS) survives.
func TestJPEGOrientation(t *testing.T) {
	// 40x20 source: red top-left quadrant, green top-right, gray elsewhere.
	src := image.NewRGBA(image.Rect(0, 0, 40, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 40; x++ {
			c := color.RGBA{128, 128, 128, 255}
			switch {
			case y < 10 && x < 20:
				c = color.RGBA{255, 0, 0, 255}
			case y < 10:
				c = color.RGBA{0, 255, 0, 255}
			}
			src.SetRGBA(x, y, c)
		}
	}
	base := mustJPEG(t, src, 95)
	// Where the red and green quadrants end up when displayed.
	const tl, tr, bl, br = 0, 1, 2, 3
	tests := []struct {
		o          uint16
		w, h       int
		red, green int
	}{
		{1, 40, 20, tl, tr},
		{2, 40, 20, tr, tl},
		{3, 40, 20, br, bl},
		{4, 40, 20, bl, br},
		{5, 20, 40, tl, bl},
		{6, 20, 40, tr, br},
		{7, 20, 40, br, tr},
		{8, 20, 40, bl, tl},
		{0, 40, 20, tl, tr}, // invalid: ignored
		{9, 40, 20, tl, tr}, // invalid: ignored
	}
	for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, tt := range tests {
			t.Run(bo.String()+"/"+string(rune('0'+tt.o)), func(t *testing.T) {
				data := insertJPEGSegment(base, 0xE1, exifAPP1(bo, tt.o))
				data = insertJPEGSegment(data, 0xFE, []byte(secret)) // COM
				if got := jpegOrientation(data); (tt.o >= 1 && tt.o <= 8 && got != int(tt.o)) || ((tt.o < 1 || tt.o > 8) && got != 1) {
					t.Fatalf("jpegOrientation = %d, want %d", got, tt.o)
				}
				res, err := ProcessImage(data, Format{KindImage, "image/jpeg", "jpg"}, DefaultLimits())
				if err != nil {
					t.Fatal(err)
				}
				checkImage(t, res)
				if bytes.Contains(res.Data, []byte("Exif")) || bytes.Contains(res.Preview, []byte("Exif")) {
					t.Fatal("output contains Exif")
				}
				if res.Width != tt.w || res.Height != tt.h {
					t.Fatalf("size %dx%d, want %dx%d", res.Width, res.Height, tt.w, tt.h)
				}
				m, err := jpeg.Decode(bytes.NewReader(res.Data))
				if err != nil {
					t.Fatal(err)
				}
				quad := func(q int) color.Color {
					x, y := tt.w/4, tt.h/4
					if q == tr || q == br {
						x += tt.w / 2
					}
					if q == bl || q == br {
						y += tt.h / 2
					}
					return m.At(x, y)
				}
				near := func(c color.Color, r, g, b uint32) bool {
					cr, cg, cb, _ := c.RGBA()
					d := func(a, b uint32) bool { return a>>8 > b+40 || b > a>>8+40 }
					return !d(cr, r) && !d(cg, g) && !d(cb, b)
				}
				if c := quad(tt.red); !near(c, 255, 0, 0) {
					t.Errorf("quadrant %d is %v, want red", tt.red, c)
				}
				if c := quad(tt.green); !near(c, 0, 255, 0) {
					t.Errorf("quadrant %d is %v, want green", tt.green, c)
				}
			})
		}
	}
}

func TestExifOrientationMalformed(t *testing.T) {
	good := exifAPP1(binary.LittleEndian, 6)[6:]
	tests := []struct {
		name string
		tiff []byte
		want int
	}{
		{"good", good, 6},
		{"empty", nil, 1},
		{"bad byte order", append([]byte("XX"), good[2:]...), 1},
		{"bad magic", append([]byte("II\x2b\x00"), good[4:]...), 1},
		{"ifd offset past end", []byte("II\x2a\x00\xff\xff\xff\xff"), 1},
		{"ifd offset inside header", []byte("II\x2a\x00\x02\x00\x00\x00\x00\x00"), 1},
		{"entry count past end", []byte("II\x2a\x00\x08\x00\x00\x00\xff\xff\x12\x01"), 1},
		{"truncated entry", good[:8+2+12+6], 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exifOrientation(tt.tiff); got != tt.want {
				t.Errorf("exifOrientation = %d, want %d", got, tt.want)
			}
		})
	}
	// Every truncation of a JPEG header with EXIF must be safe.
	data := insertJPEGSegment(mustJPEG(t, gradient(8, 8), 80), 0xE1, exifAPP1(binary.BigEndian, 8))
	for n := 0; n < 200 && n <= len(data); n++ {
		_ = jpegOrientation(data[:n])
	}
	// A segment length running past the end.
	_ = jpegOrientation([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF, 'E', 'x'})
}

func TestProcessImageErrors(t *testing.T) {
	jpg := mustJPEG(t, gradient(64, 64), 90)
	small := Limits{MaxBytes: 1000, MaxPixels: 100 * 100, MaxDimension: 200, MaxFrames: 2}
	pngF := Format{KindImage, "image/png", "png"}
	jpegF := Format{KindImage, "image/jpeg", "jpg"}
	gifF := Format{KindImage, "image/gif", "gif"}
	webpF := Format{KindImage, "image/webp", "webp"}
	animatedWebP := append([]byte{}, webpLossyAlpha...)
	animatedWebP[20] |= 0x02 // VP8X animation flag

	tests := []struct {
		name string
		data []byte
		f    Format
		lim  Limits
		code ErrorCode
		msg  string
	}{
		{"text file", []byte("just some text, not an image\n"), pngF, DefaultLimits(), ErrUnsupported, "Unsupported file type"},
		{"video kind", ftyp("isom", "mp41"), Format{KindVideo, "video/mp4", "mp4"}, DefaultLimits(), ErrUnsupported, "Unsupported file type"},
		{"format does not match content", jpg, pngF, DefaultLimits(), ErrUnsupported, "Unsupported file type"},
		{"over default MaxBytes", append(jpg, make([]byte, 16<<20)...), jpegF, DefaultLimits(), ErrTooLarge, "File is too large (maximum is 16 MB)"},
		{"over small MaxBytes", jpg, jpegF, Limits{MaxBytes: 1000}, ErrTooLarge, "File is too large (maximum is 1000 bytes)"},
		{"png bomb 100000x100000", bombPNG(100000, 100000), pngF, DefaultLimits(), ErrTooManyPixels, "Image dimensions are too large"},
		{"png too wide", bombPNG(20000, 10), pngF, DefaultLimits(), ErrTooManyPixels, "Image dimensions are too large"},
		{"png zero width", bombPNG(0, 10), pngF, DefaultLimits(), ErrCorrupt, "The file is damaged or not a valid image"},
		{"jpeg over MaxPixels", mustJPEG(t, gradient(120, 90), 50), jpegF, Limits{MaxPixels: 100 * 100}, ErrTooManyPixels, "Image dimensions are too large"},
		{"gif too many frames", mustGIF(t, animatedGIF(false)), gifF, small, ErrTooManyPixels, "Animation has too many frames"},
		{"truncated jpeg", jpg[:len(jpg)/2], jpegF, DefaultLimits(), ErrCorrupt, "The file is damaged or not a valid image"},
		{"jpeg header only", jpg[:3], jpegF, DefaultLimits(), ErrCorrupt, "The file is damaged or not a valid image"},
		{"png magic then garbage", append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("garbage!"), 20)...), pngF, DefaultLimits(), ErrCorrupt, "The file is damaged or not a valid image"},
		{"png bad crc", func() []byte { p := mustPNG(t, gradient(5, 5)); p[20] ^= 1; return p }(), pngF, DefaultLimits(), ErrCorrupt, "The file is damaged or not a valid image"},
		{"gif truncated", mustGIF(t, animatedGIF(false))[:200], gifF, DefaultLimits(), ErrCorrupt, "The file is damaged or not a valid image"},
		{"webp truncated", webpLossy[:40], webpF, DefaultLimits(), ErrCorrupt, "The file is damaged or not a valid image"},
		{"webp animated", animatedWebP, webpF, DefaultLimits(), ErrUnsupported, "Animated WebP images are not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := ProcessImage(tt.data, tt.f, tt.lim)
			if err == nil {
				t.Fatalf("ProcessImage succeeded (%dx%d), want error", res.Width, res.Height)
			}
			if res != nil {
				t.Error("non-nil result with error")
			}
			if c := errCode(t, err); c != tt.code {
				t.Errorf("code = %v, want %v (%v)", c, tt.code, err)
			}
			var e *Error
			errors.As(err, &e)
			if e.Msg != tt.msg {
				t.Errorf("Msg = %q, want %q", e.Msg, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), e.Msg) {
				t.Errorf("Error() = %q does not start with Msg", err.Error())
			}
		})
	}
}

// TestDecompressionBomb checks that a PNG claiming 100000x100000 pixels is
// refused quickly and without allocating anything like its size.
func TestDecompressionBomb(t *testing.T) {
	data := bombPNG(100000, 100000)
	f, err := Detect(data)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err = ProcessImage(data, f, DefaultLimits())
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if c := errCode(t, err); c != ErrTooManyPixels {
		t.Fatalf("code = %v, want ErrTooManyPixels", c)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 10<<20 {
		t.Errorf("allocated %d bytes, want < 10 MB", alloc)
	}
	if elapsed > time.Second {
		t.Errorf("took %v", elapsed)
	}
	allocs := testing.AllocsPerRun(10, func() { _, _ = ProcessImage(data, f, DefaultLimits()) })
	if allocs > 100 {
		t.Errorf("%v allocations per run", allocs)
	}
}

// TestGIFFrameBomb checks that a GIF with many frames is refused before any
// frame is decoded.
func TestGIFFrameBomb(t *testing.T) {
	// 2000 frames of 1x1, each a tiny image descriptor.
	var b bytes.Buffer
	b.WriteString("GIF89a\x01\x00\x01\x00\x80\x00\x00")
	b.Write([]byte{0, 0, 0, 255, 255, 255})
	for range 2000 {
		b.Write([]byte{0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4C, 0x01, 0})
	}
	b.WriteByte(0x3B)
	data := b.Bytes()
	if _, err := gif.DecodeAll(bytes.NewReader(data)); err != nil {
		t.Fatalf("fixture is not a valid GIF: %v", err)
	}
	_, err := ProcessImage(data, Format{KindImage, "image/gif", "gif"}, DefaultLimits())
	if c := errCode(t, err); c != ErrTooManyPixels {
		t.Fatalf("code = %v, want ErrTooManyPixels (%v)", c, err)
	}
	// Within the frame limit but over gifTotalPixelFactor*MaxPixels.
	_, err = ProcessImage(data, Format{KindImage, "image/gif", "gif"}, Limits{MaxFrames: 2000, MaxPixels: 100})
	if c := errCode(t, err); c != ErrTooManyPixels {
		t.Fatalf("code = %v, want ErrTooManyPixels (%v)", c, err)
	}
	lim := DefaultLimits()
	lim.MaxFrames = 2000
	res, err := ProcessImage(data, Format{KindImage, "image/gif", "gif"}, lim)
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, res)
}

func TestDefaultLimits(t *testing.T) {
	got := DefaultLimits()
	want := Limits{MaxBytes: 16 << 20, MaxPixels: 33_177_600, MaxDimension: 16384, MaxFrames: 1000}
	if got != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", got, want)
	}
	if (Limits{}).withDefaults() != want {
		t.Error("zero Limits should mean the defaults")
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{16 << 20: "16 MB", 1 << 20: "1 MB", 1536 << 10: "1.5 MB", 8 << 10: "8 KB", 1000: "1000 bytes"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestErrorType(t *testing.T) {
	cause := errors.New("png: invalid format")
	e := &Error{Code: ErrCorrupt, Msg: "The file is damaged or not a valid image", Err: cause}
	if e.Error() != "The file is damaged or not a valid image: png: invalid format" {
		t.Errorf("Error() = %q", e.Error())
	}
	if !errors.Is(e, cause) {
		t.Error("Unwrap does not reach the cause")
	}
	if (&Error{Code: ErrTooLarge, Msg: "x"}).Error() != "x" {
		t.Error("Error() without cause should be Msg")
	}
	if ErrTooManyPixels.String() != "too_many_pixels" {
		t.Error(ErrTooManyPixels.String())
	}
}

// BenchmarkProcessJPEG1MP measures processing of a 1000x1000 JPEG (decode,
// re-encode, 640 px preview, blurhash).
func BenchmarkProcessJPEG1MP(b *testing.B) {
	data := mustJPEG(b, gradient(1000, 1000), 90)
	f := Format{KindImage, "image/jpeg", "jpg"}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ProcessImage(data, f, DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}
