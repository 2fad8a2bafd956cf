package imaging

import (
	"image"
	"math"
	"strings"
)

// base83Alphabet is the digit alphabet of the BlurHash format.
const base83Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"

// blurhash encodes img with nx x ny components (each 1..9) following the
// public BlurHash algorithm (github.com/woltapp/blurhash): pixels are
// converted from sRGB to linear light, projected onto cosine bases
// cos(πix/w)·cos(πjy/h), and the DC and quantised AC components are written
// in base 83. The result has 4 + 2*nx*ny characters. The alpha channel is
// ignored (img is premultiplied, so transparent areas count as black).
func blurhash(img *image.RGBA, nx, ny int) string {
	w, h := img.Rect.Dx(), img.Rect.Dy()
	if w <= 0 || h <= 0 || nx < 1 || nx > 9 || ny < 1 || ny > 9 {
		return ""
	}
	var toLinear [256]float64
	for i := range toLinear {
		toLinear[i] = srgbToLinear(i)
	}
	// Linear-light planes, so the per-component loops are simple sums.
	lin := make([][3]float64, w*h)
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			p := row[4*x:]
			lin[y*w+x] = [3]float64{toLinear[p[0]], toLinear[p[1]], toLinear[p[2]]}
		}
	}
	cosX := make([]float64, nx*w)
	for i := 0; i < nx; i++ {
		for x := 0; x < w; x++ {
			cosX[i*w+x] = math.Cos(math.Pi * float64(i) * float64(x) / float64(w))
		}
	}
	cosY := make([]float64, ny*h)
	for j := 0; j < ny; j++ {
		for y := 0; y < h; y++ {
			cosY[j*h+y] = math.Cos(math.Pi * float64(j) * float64(y) / float64(h))
		}
	}
	// Components in the reference order: j (vertical) outer, i inner.
	factors := make([][3]float64, 0, nx*ny)
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			var sum [3]float64
			for y := 0; y < h; y++ {
				cy := cosY[j*h+y]
				for x := 0; x < w; x++ {
					basis := cosX[i*w+x] * cy
					p := &lin[y*w+x]
					sum[0] += basis * p[0]
					sum[1] += basis * p[1]
					sum[2] += basis * p[2]
				}
			}
			norm := 2.0
			if i == 0 && j == 0 {
				norm = 1
			}
			scale := norm / float64(w*h)
			factors = append(factors, [3]float64{sum[0] * scale, sum[1] * scale, sum[2] * scale})
		}
	}

	var sb strings.Builder
	sb.Grow(4 + 2*nx*ny)
	writeBase83(&sb, (nx-1)+(ny-1)*9, 1)

	maxValue := 1.0
	if len(factors) > 1 {
		var actualMax float64
		for _, f := range factors[1:] {
			actualMax = math.Max(actualMax, math.Max(math.Abs(f[0]), math.Max(math.Abs(f[1]), math.Abs(f[2]))))
		}
		quantisedMax := int(math.Max(0, math.Min(82, math.Floor(actualMax*166-0.5))))
		maxValue = float64(quantisedMax+1) / 166
		writeBase83(&sb, quantisedMax, 1)
	} else {
		writeBase83(&sb, 0, 1)
	}

	dc := factors[0]
	writeBase83(&sb, linearToSRGB(dc[0])<<16|linearToSRGB(dc[1])<<8|linearToSRGB(dc[2]), 4)
	for _, f := range factors[1:] {
		q := func(v float64) int {
			return int(math.Max(0, math.Min(18, math.Floor(signPow(v/maxValue, 0.5)*9+9.5))))
		}
		writeBase83(&sb, q(f[0])*19*19+q(f[1])*19+q(f[2]), 2)
	}
	return sb.String()
}

func writeBase83(sb *strings.Builder, value, length int) {
	for i := 1; i <= length; i++ {
		div := 1
		for k := 0; k < length-i; k++ {
			div *= 83
		}
		sb.WriteByte(base83Alphabet[(value/div)%83])
	}
}

func srgbToLinear(v int) float64 {
	f := float64(v) / 255
	if f <= 0.04045 {
		return f / 12.92
	}
	return math.Pow((f+0.055)/1.055, 2.4)
}

func linearToSRGB(v float64) int {
	v = math.Max(0, math.Min(1, v))
	if v <= 0.0031308 {
		return int(v*12.92*255 + 0.5)
	}
	return int((1.055*math.Pow(v, 1/2.4)-0.055)*255 + 0.5)
}

func signPow(v, exp float64) float64 {
	return math.Copysign(math.Pow(math.Abs(v), exp), v)
}
