package imaging

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"math"

	"golang.org/x/image/draw"
)

func processGIF(data []byte, lim Limits) (*Image, error) {
	cfg, err := checkHeader(data, lim, gif.DecodeConfig)
	if err != nil {
		return nil, err
	}
	// gif.DecodeAll has no frame limit and allocates every frame, so count
	// frames and their areas from the block structure first.
	frames, area, err := scanGIF(data)
	if err != nil {
		return nil, errCorrupt(err)
	}
	if frames > lim.MaxFrames {
		return nil, errPixels(msgFrames, fmt.Errorf("%d frames", frames))
	}
	if area/gifTotalPixelFactor > lim.MaxPixels {
		return nil, errPixels(msgDimensions, fmt.Errorf("frames total %d pixels", area))
	}
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return nil, errCorrupt(err)
	}
	if len(g.Image) == 0 || len(g.Image) > frames {
		return nil, errCorrupt(fmt.Errorf("decoded %d frames, scanned %d", len(g.Image), frames))
	}
	// Only what the decoder models is written back: frames, delays,
	// disposal, loop count, palettes and background. Comments, XMP and
	// other application extensions are dropped.
	out := &gif.GIF{
		Image:           g.Image,
		Delay:           g.Delay,
		Disposal:        g.Disposal,
		LoopCount:       g.LoopCount,
		Config:          g.Config,
		BackgroundIndex: g.BackgroundIndex,
	}
	if p, ok := out.Config.ColorModel.(color.Palette); ok && len(p) == 0 {
		out.Config.ColorModel = nil // no global color table
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, out); err != nil {
		return nil, errCorrupt(fmt.Errorf("encoding GIF: %w", err))
	}
	res := &Image{Data: buf.Bytes(), MIME: mimeGIF, Ext: "gif", Width: cfg.Width, Height: cfg.Height}

	// The preview shows the first frame on the logical screen; areas it does
	// not cover are transparent.
	canvas := image.NewRGBA(image.Rect(0, 0, cfg.Width, cfg.Height))
	first := g.Image[0]
	draw.Draw(canvas, first.Rect, first, first.Rect.Min, draw.Src)
	return res, addPreview(res, canvas, !canvas.Opaque())
}

// GIF block introducers and extension labels.
const (
	gifExtension       = 0x21
	gifImageDescriptor = 0x2C
	gifTrailer         = 0x3B
	gifExtText         = 0x01
	gifExtGraphic      = 0xF9
	gifExtComment      = 0xFE
	gifExtApplication  = 0xFF
)

// gifError is a constant error from scanGIF.
type gifError string

func (e gifError) Error() string { return string(e) }

const errGIFTruncated gifError = "gif: truncated block structure"

// scanGIF walks the block structure exactly as image/gif's decoder does,
// without decompressing anything, and returns the number of image
// descriptors and the sum of their areas. It stops at the trailer. Whatever
// it rejects, the decoder would reject too, so no frame is ever decoded
// that was not counted here.
func scanGIF(data []byte) (frames int, area int64, err error) {
	if len(data) < 13 {
		return 0, 0, errGIFTruncated
	}
	p := 13
	if flags := data[10]; flags&0x80 != 0 {
		p += 3 << (1 + uint(flags&7))
	}
	// skipSubBlocks advances p past a chain of data sub-blocks ending with
	// a zero-length block.
	skipSubBlocks := func() error {
		for {
			if p >= len(data) {
				return errGIFTruncated
			}
			n := int(data[p])
			p++
			if n == 0 {
				return nil
			}
			p += n
		}
	}
	for {
		if p >= len(data) {
			return 0, 0, errGIFTruncated
		}
		c := data[p]
		p++
		switch c {
		case gifTrailer:
			if frames == 0 {
				return 0, 0, errors.New("gif: no frames")
			}
			return frames, area, nil
		case gifExtension:
			if p >= len(data) {
				return 0, 0, errGIFTruncated
			}
			label := data[p]
			p++
			switch label {
			case gifExtGraphic:
				p += 6 // size (4), flags, delay (2), index, terminator
				continue
			case gifExtText:
				p += 13
			case gifExtComment:
			case gifExtApplication:
				if p >= len(data) {
					return 0, 0, errGIFTruncated
				}
				p += 1 + int(data[p])
			default:
				return 0, 0, fmt.Errorf("gif: unknown extension 0x%02x", label)
			}
			if err := skipSubBlocks(); err != nil {
				return 0, 0, err
			}
		case gifImageDescriptor:
			if p+9 > len(data) {
				return 0, 0, errGIFTruncated
			}
			w := int64(data[p+4]) | int64(data[p+5])<<8
			h := int64(data[p+6]) | int64(data[p+7])<<8
			flags := data[p+8]
			p += 9
			if flags&0x80 != 0 {
				p += 3 << (1 + uint(flags&7))
			}
			p++ // LZW minimum code size
			if err := skipSubBlocks(); err != nil {
				return 0, 0, err
			}
			frames++
			area = min(area+w*h, math.MaxInt64/2) // saturate; limits are far lower
		default:
			return 0, 0, fmt.Errorf("gif: unknown block type 0x%02x", c)
		}
	}
}
