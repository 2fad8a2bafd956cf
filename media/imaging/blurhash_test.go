package imaging

import (
	"image"
	"image/color"
	"strings"
	"testing"
)

func solid(w, h int, c color.RGBA) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

// bhPattern is a deterministic test pattern (the same formula was used to
// compute the reference strings below).
func bhPattern(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.SetRGBA(x, y, color.RGBA{uint8(x * 255 / (w - 1)), uint8(y * 255 / (h - 1)), uint8((x*37 + y*91) % 256), 255})
		}
	}
	return m
}

// TestBlurhashVectors compares with strings from the reference C encoder
// (github.com/woltapp/blurhash, C/encode.c, blurHashForPixels) run on the
// same pixels. The TypeScript encoder (npm "blurhash" 2.0.5) gives the same
// strings for the solid colours but not for the patterns, because it takes
// the maximum AC value without abs(); the C, Python and Swift encoders and
// this one use the absolute value. The solid-colour strings are also
// verified by hand:
//
// For a solid w x h image of linear value L per channel the reference basis
// cos(πix/w) sums over x = 0..w-1 to w for i = 0, to 1 for odd i and to 0 for
// even i > 0, so the factors are DC = L, AC(i,0) = 2L/w (odd i),
// AC(0,j) = 2L/h (odd j), AC(i,j) = 2L/(wh) (both odd), 0 otherwise. The AC
// terms of a solid colour are therefore small but not zero (except for
// black), an artefact of the reference sampling at x rather than x+0.5.
//
// White, 32x24, 4x3: L = 1, so AC(1,0) = AC(3,0) = 0.0625, AC(0,1) =
// 0.08333, AC(1,1) = AC(3,1) = 0.0026. Max 0.08333 quantises to
// floor(0.08333*166-0.5) = 13 → "D", maxValue = 14/166. DC 0xFFFFFF in four
// base-83 digits is 29,28,30,10 → "TSUA". Each AC quantises per channel to
// floor(sqrt(v/maxValue)*9+9.5): 0.0625 → 17, 0.08333 → 18, 0.0026 → 11,
// 0 → 9; with equal channels the value is q*381, giving 17 → "_3",
// 18 → "~q", 11 → "of", 9 → "fQ". In the order (1,0) (2,0) (3,0) (0,1)
// (1,1) (2,1) (3,1) (0,2) (1,2) (2,2) (3,2), after size flag "L" (3+2*9):
// "L" "D" "TSUA" "_3 fQ _3 ~q of fQ of fQ fQ fQ fQ".
//
// Black: every factor is 0: max "0", DC "0000", every AC 9*381 = 3429 → "fQ".
func TestBlurhashVectors(t *testing.T) {
	tests := []struct {
		name   string
		img    *image.RGBA
		nx, ny int
		want   string
	}{
		{"white", solid(32, 24, color.RGBA{255, 255, 255, 255}), 4, 3, "LDTSUA_3fQ_3~qoffQoffQfQfQfQ"},
		{"black", solid(32, 24, color.RGBA{0, 0, 0, 255}), 4, 3, "L00000fQfQfQfQfQfQfQfQfQfQfQ"},
		{"teal", solid(32, 24, color.RGBA{0, 128, 128, 255}), 4, 3, "L204%ShKfQhKhef+fQf+fQfQfQfQ"},
		{"pattern", bhPattern(32, 24), 4, 3, "L$Hewa2swyX8l}WBjte=gIfifOfi"},
		{"pattern portrait", bhPattern(20, 32), 3, 4, "T$HoE{2@wxl|WEjugHfhfQnmWojs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := blurhash(tt.img, tt.nx, tt.ny)
			if got != tt.want {
				t.Errorf("blurhash = %q, want %q", got, tt.want)
			}
			if len(got) != 4+2*tt.nx*tt.ny {
				t.Errorf("length %d, want %d", len(got), 4+2*tt.nx*tt.ny)
			}
			if got[0] != base83Alphabet[(tt.nx-1)+(tt.ny-1)*9] {
				t.Errorf("size flag %c", got[0])
			}
		})
	}
}

func TestBlurhashEdgeCases(t *testing.T) {
	if got := blurhash(solid(1, 1, color.RGBA{10, 20, 30, 255}), 4, 3); len(got) != 28 {
		t.Errorf("1x1: %q", got)
	}
	if got := blurhash(solid(5, 5, color.RGBA{}), 1, 1); got != "000000" {
		t.Errorf("1x1 components: %q", got) // size 0, max 0, DC 0000
	}
	for _, bad := range [][2]int{{0, 3}, {10, 3}, {4, 0}} {
		if got := blurhash(solid(4, 4, color.RGBA{}), bad[0], bad[1]); got != "" {
			t.Errorf("components %v: %q", bad, got)
		}
	}
	if got := blurhash(image.NewRGBA(image.Rect(0, 0, 0, 0)), 4, 3); got != "" {
		t.Errorf("empty image: %q", got)
	}
	for _, r := range blurhash(bhPattern(32, 32), 9, 9) {
		if !strings.ContainsRune(base83Alphabet, r) {
			t.Errorf("character %q outside base 83", r)
		}
	}
}

// TestProcessImageBlurhash checks that ProcessImage's blurhash of a solid
// image equals the reference value for that colour (the downscale of a solid
// image is solid) and that portrait images get 3x4 components.
func TestProcessImageBlurhash(t *testing.T) {
	res, err := ProcessImage(mustPNG(t, solid(64, 48, color.RGBA{255, 255, 255, 255})), Format{KindImage, "image/png", "png"}, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	// Downscaled to 32x24, the size of the white vector above.
	if res.Blurhash != "LDTSUA_3fQ_3~qoffQoffQfQfQfQ" {
		t.Errorf("blurhash = %q", res.Blurhash)
	}
	res, err = ProcessImage(mustPNG(t, solid(30, 60, color.RGBA{0, 0, 0, 255})), Format{KindImage, "image/png", "png"}, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Blurhash, "T0") || len(res.Blurhash) != 28 {
		t.Errorf("portrait blurhash = %q, want 3x4 components", res.Blurhash)
	}
}
