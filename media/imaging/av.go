package imaging

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// AV describes a video or audio file, which is stored as uploaded (no
// transcoding).
type AV struct {
	Duration      float64 // seconds, 0 if unknown
	Width, Height int     // display size in pixels, 0 if unknown or audio
}

// ProbeAV reads what it can cheaply and safely from an MP4, M4A or MOV file
// (f from [Detect]): the duration from moov/mvhd (or moov/mvex/mehd for
// fragmented files), and the width and height from the tkhd of the first
// video track, swapped if its matrix rotates by 90° or 270°.
//
// Only the top-level boxes up to moov and the few boxes inside moov that
// are needed are looked at; it does not validate the rest of the file. A
// missing moov box or a malformed box on the way gives an *[Error] with Code
// [ErrCorrupt]. Every box size is bounds-checked and every step moves
// forward, so no input makes ProbeAV panic or loop.
//
// Other formats (WebM, Ogg, MP3, WAV, images) give a zero AV and no error.
func ProbeAV(data []byte, f Format) (AV, error) {
	switch f.MIME {
	case mimeMP4, mimeMOV, mimeM4A:
	default:
		return AV{}, nil
	}
	for p := 0; p < len(data); {
		typ, body, next, err := nextBox(data, p)
		if err != nil {
			return AV{}, errCorruptAV(err)
		}
		if typ == "moov" {
			av, err := parseMoov(body)
			if err != nil {
				return AV{}, errCorruptAV(err)
			}
			return av, nil
		}
		p = next
	}
	return AV{}, errCorruptAV(errors.New("mp4: no moov box"))
}

func errCorruptAV(cause error) *Error {
	return &Error{Code: ErrCorrupt, Msg: msgCorruptAV, Err: cause}
}

// nextBox parses the ISO-BMFF box header at data[p:] and returns the box
// type, its payload and the offset just past it (always > p). A size of 0
// means the box extends to the end of data; a size of 1 means a 64-bit size
// follows the type.
func nextBox(data []byte, p int) (typ string, body []byte, next int, err error) {
	if p < 0 || len(data)-p < 8 {
		return "", nil, 0, errors.New("mp4: truncated box header")
	}
	rem := uint64(len(data) - p)
	size := uint64(binary.BigEndian.Uint32(data[p:]))
	typ = string(data[p+4 : p+8])
	hdr := uint64(8)
	switch size {
	case 0:
		size = rem
	case 1:
		if rem < 16 {
			return "", nil, 0, errors.New("mp4: truncated box header")
		}
		size, hdr = binary.BigEndian.Uint64(data[p+8:]), 16
	}
	if size < hdr || size > rem {
		return "", nil, 0, fmt.Errorf("mp4: box %q has invalid size %d (%d bytes left)", typ, size, rem)
	}
	return typ, data[p+int(hdr) : p+int(size)], p + int(size), nil
}

// forEachBox calls fn for each box directly inside data, stopping at the
// first malformed box.
func forEachBox(data []byte, fn func(typ string, body []byte) error) error {
	for p := 0; p < len(data); {
		typ, body, next, err := nextBox(data, p)
		if err != nil {
			return err
		}
		if err := fn(typ, body); err != nil {
			return err
		}
		p = next
	}
	return nil
}

func parseMoov(moov []byte) (AV, error) {
	var (
		av                  AV
		timescale, duration uint64
		fragmentDuration    uint64
		haveMvhd            bool
		foundVideo          bool
	)
	err := forEachBox(moov, func(typ string, body []byte) error {
		switch typ {
		case "mvhd":
			if haveMvhd {
				return nil
			}
			var err error
			timescale, duration, err = parseMvhd(body)
			haveMvhd = err == nil
			return err
		case "mvex":
			return forEachBox(body, func(typ string, body []byte) error {
				if typ == "mehd" && fragmentDuration == 0 {
					fragmentDuration = parseMehd(body)
				}
				return nil
			})
		case "trak":
			if foundVideo {
				return nil
			}
			w, h, video, err := parseTrak(body)
			if err != nil {
				return err
			}
			if video && w > 0 && h > 0 {
				av.Width, av.Height, foundVideo = w, h, true
			}
		}
		return nil
	})
	if err != nil {
		return AV{}, err
	}
	if !haveMvhd {
		return AV{}, errors.New("mp4: no mvhd box")
	}
	if duration == 0 {
		duration = fragmentDuration
	}
	if timescale > 0 && duration > 0 {
		av.Duration = float64(duration) / float64(timescale)
	}
	return av, nil
}

// parseMvhd returns the movie timescale and duration (0 if unknown).
func parseMvhd(b []byte) (timescale, duration uint64, err error) {
	if len(b) < 4 {
		return 0, 0, errors.New("mp4: short mvhd")
	}
	switch b[0] {
	case 0:
		if len(b) < 20 {
			return 0, 0, errors.New("mp4: short mvhd")
		}
		timescale = uint64(binary.BigEndian.Uint32(b[12:]))
		duration = uint64(binary.BigEndian.Uint32(b[16:]))
		if duration == 0xFFFFFFFF {
			duration = 0
		}
	case 1:
		if len(b) < 32 {
			return 0, 0, errors.New("mp4: short mvhd")
		}
		timescale = uint64(binary.BigEndian.Uint32(b[20:]))
		duration = binary.BigEndian.Uint64(b[24:])
		if duration == 0xFFFFFFFFFFFFFFFF {
			duration = 0
		}
	default:
		return 0, 0, fmt.Errorf("mp4: mvhd version %d", b[0])
	}
	return timescale, duration, nil
}

// parseMehd returns the fragment duration of a movie extends header, or 0.
func parseMehd(b []byte) uint64 {
	switch {
	case len(b) >= 8 && b[0] == 0:
		return uint64(binary.BigEndian.Uint32(b[4:]))
	case len(b) >= 12 && b[0] == 1:
		return binary.BigEndian.Uint64(b[4:])
	}
	return 0
}

// parseTrak returns the display size from a track's tkhd and whether its
// media handler (mdia/hdlr) is video. A track without hdlr counts as video
// if it has a size.
func parseTrak(trak []byte) (w, h int, video bool, err error) {
	handler := ""
	haveTkhd := false
	err = forEachBox(trak, func(typ string, body []byte) error {
		switch typ {
		case "tkhd":
			if !haveTkhd {
				w, h = parseTkhd(body)
				haveTkhd = true
			}
		case "mdia":
			return forEachBox(body, func(typ string, body []byte) error {
				if typ == "hdlr" && handler == "" && len(body) >= 12 {
					handler = string(body[8:12])
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return 0, 0, false, err
	}
	return w, h, handler == "vide" || handler == "", nil
}

// parseTkhd returns a track header's width and height (integer part of
// 16.16 fixed point), swapped when the matrix is a 90° or 270° rotation.
// Anything short or unknown gives 0, 0.
func parseTkhd(b []byte) (w, h int) {
	var matrix, size int
	switch {
	case len(b) >= 84 && b[0] == 0:
		matrix, size = 40, 76
	case len(b) >= 96 && b[0] == 1:
		matrix, size = 52, 88
	default:
		return 0, 0
	}
	w = int(binary.BigEndian.Uint32(b[size:]) >> 16)
	h = int(binary.BigEndian.Uint32(b[size+4:]) >> 16)
	a := binary.BigEndian.Uint32(b[matrix:])
	bb := binary.BigEndian.Uint32(b[matrix+4:])
	c := binary.BigEndian.Uint32(b[matrix+12:])
	d := binary.BigEndian.Uint32(b[matrix+16:])
	if a == 0 && d == 0 && bb != 0 && c != 0 {
		w, h = h, w
	}
	return w, h
}
