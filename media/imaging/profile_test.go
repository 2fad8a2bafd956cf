package imaging

import (
	"encoding/binary"
	"image"
	"image/color"
	"testing"
)

// thirds is a w x h image whose left, middle and right thirds are red,
// green and blue.
func thirds(w, h int, alpha uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{0, 0, 0, alpha}
			switch 3 * x / w {
			case 0:
				c.R = 255
			case 1:
				c.G = 255
			default:
				c.B = 255
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func TestProcessProfileImage(t *testing.T) {
	jpegWithGPS := insertJPEGSegment(mustJPEG(t, thirds(1200, 600, 255), 95), 0xE1, exifAPP1(binary.LittleEndian, 6))
	jpegWithGPS = insertJPEGSegment(jpegWithGPS, 0xFE, []byte(secret))
	tests := []struct {
		name       string
		data       []byte
		w, h       int
		wantW      int
		wantH      int
		mime       string
		centreOnly color.RGBA // the colour of every pixel of the middle column
	}{
		// Orientation 6 turns 1200x600 into 600x1200: the avatar is the
		// middle of a tall image whose thirds now run top to bottom.
		{"rotated JPEG avatar", jpegWithGPS, AvatarWidth, AvatarHeight, 400, 400, "image/jpeg", color.RGBA{}},
		{"wide PNG avatar keeps the centre", mustPNG(t, thirds(900, 300, 255)), AvatarWidth, AvatarHeight, 300, 300, "image/jpeg", color.RGBA{0, 255, 0, 255}},
		{"small header is not upscaled", mustPNG(t, thirds(300, 300, 255)), HeaderWidth, HeaderHeight, 300, 100, "image/jpeg", color.RGBA{}},
		{"large header", mustJPEG(t, thirds(3000, 2000, 255), 90), HeaderWidth, HeaderHeight, 1500, 500, "image/jpeg", color.RGBA{}},
		{"transparent stays PNG", mustPNG(t, thirds(200, 400, 128)), AvatarWidth, AvatarHeight, 200, 200, "image/png", color.RGBA{}},
		{"animated GIF becomes its first frame", mustGIF(t, animatedGIF(false)), AvatarWidth, AvatarHeight, 0, 0, "", color.RGBA{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Detect(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			res, err := ProcessProfileImage(tc.data, f, DefaultLimits(), tc.w, tc.h)
			if err != nil {
				t.Fatal(err)
			}
			checkImage(t, res) // decodes, no metadata, preview and blurhash
			if tc.wantW != 0 && (res.Width != tc.wantW || res.Height != tc.wantH) {
				t.Fatalf("size %dx%d, want %dx%d", res.Width, res.Height, tc.wantW, tc.wantH)
			}
			if res.Width*tc.h != res.Height*tc.w {
				t.Fatalf("size %dx%d has not the aspect of %dx%d", res.Width, res.Height, tc.w, tc.h)
			}
			if tc.mime != "" && res.MIME != tc.mime {
				t.Fatalf("MIME %s, want %s", res.MIME, tc.mime)
			}
			if res.MIME == "image/gif" {
				t.Fatal("a profile image must be still")
			}
			if tc.centreOnly != (color.RGBA{}) {
				m, err := decodeAs(res.MIME, res.Data)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range []int{0, res.Width / 2, res.Width - 1} {
					r, g, b, _ := m.At(x, res.Height/2).RGBA()
					if r>>8 > 40 || g>>8 < 200 || b>>8 > 40 {
						t.Fatalf("pixel %d is %d,%d,%d: the crop is not the centre", x, r>>8, g>>8, b>>8)
					}
				}
			}
		})
	}
	if _, err := ProcessProfileImage(mustPNG(t, thirds(10, 10, 255)), Format{KindImage, "image/png", "png"}, DefaultLimits(), 0, 10); err == nil {
		t.Fatal("a zero target size was accepted")
	}
	if _, err := ProcessProfileImage(bombPNG(100000, 100000), Format{KindImage, "image/png", "png"}, DefaultLimits(), 400, 400); errCode(t, err) != ErrTooManyPixels {
		t.Fatalf("bomb: %v", err)
	}
}
