package imaging

import (
	"encoding/binary"
	"math"
	"testing"
)

// box builds an ISO-BMFF box with a 32-bit size.
func box(typ string, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	b = append(b, typ...)
	return append(b, body...)
}

// fullBox prefixes version and zero flags.
func fullBox(typ string, version byte, body []byte) []byte {
	return box(typ, []byte{version, 0, 0, 0}, body)
}

func mvhd(version byte, timescale uint32, duration uint64) []byte {
	var b []byte
	if version == 0 {
		b = make([]byte, 8) // creation, modification
		b = binary.BigEndian.AppendUint32(b, timescale)
		b = binary.BigEndian.AppendUint32(b, uint32(duration))
	} else {
		b = make([]byte, 16)
		b = binary.BigEndian.AppendUint32(b, timescale)
		b = binary.BigEndian.AppendUint64(b, duration)
	}
	b = append(b, make([]byte, 80)...) // rate, volume, reserved, matrix, pre_defined, next_track_ID
	return fullBox("mvhd", version, b)
}

// identity and 90° rotation matrices (16.16 a,b,u,c,d,v; 2.30 x,y,w).
var (
	matrixIdentity = [9]uint32{0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000}
	matrixRotate90 = [9]uint32{0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000}
)

func tkhd(version byte, w, h uint32, matrix [9]uint32) []byte {
	var b []byte
	if version == 0 {
		b = make([]byte, 20) // creation, modification, track_ID, reserved, duration
	} else {
		b = make([]byte, 32)
	}
	b = append(b, make([]byte, 16)...) // reserved, layer, alternate_group, volume, reserved
	for _, m := range matrix {
		b = binary.BigEndian.AppendUint32(b, m)
	}
	b = binary.BigEndian.AppendUint32(b, w<<16)
	b = binary.BigEndian.AppendUint32(b, h<<16)
	return fullBox("tkhd", version, b)
}

func hdlr(handler string) []byte {
	b := make([]byte, 4)
	b = append(b, handler...)
	b = append(b, make([]byte, 12)...)
	return append(b, "name\x00"...)
}

func trak(tk []byte, handler string) []byte {
	return box("trak", tk, box("mdia", fullBox("hdlr", 0, hdlr(handler))))
}

// minimalMP4 is ftyp + moov (mvhd 12.345 s at timescale 1000, an audio
// track, then a 1920x1080 video track) + mdat.
func minimalMP4() []byte {
	var f []byte
	f = append(f, ftyp("isom", "isom", "mp41")[:24]...)
	f = append(f, box("moov",
		mvhd(0, 1000, 12345),
		trak(tkhd(0, 0, 0, matrixIdentity), "soun"),
		trak(tkhd(0, 1920, 1080, matrixIdentity), "vide"),
	)...)
	return append(f, box("mdat", make([]byte, 32))...)
}

func TestProbeAV(t *testing.T) {
	mp4 := Format{KindVideo, "video/mp4", "mp4"}
	mov := Format{KindVideo, "video/quicktime", "mov"}
	m4a := Format{KindAudio, "audio/mp4", "m4a"}
	ft := ftyp("isom", "isom", "mp41")[:24]
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	// A 64-bit-size mdat before moov.
	large := cat([]byte{0, 0, 0, 1}, []byte("mdat"), binary.BigEndian.AppendUint64(nil, 16+8), make([]byte, 8))
	// A final box with size 0 runs to the end of the file.
	toEnd := cat([]byte{0, 0, 0, 0}, []byte("mdat"), make([]byte, 100))

	tests := []struct {
		name    string
		data    []byte
		f       Format
		want    AV
		corrupt bool
	}{
		{"minimal mp4", minimalMP4(), mp4, AV{Duration: 12.345, Width: 1920, Height: 1080}, false},
		{"moov after mdat", cat(ft, box("mdat", make([]byte, 10)), box("moov", mvhd(0, 600, 1200), trak(tkhd(0, 640, 480, matrixIdentity), "vide"))), mov, AV{Duration: 2, Width: 640, Height: 480}, false},
		{"version 1 boxes", cat(ft, box("moov", mvhd(1, 90000, 90000*3), trak(tkhd(1, 1280, 720, matrixIdentity), "vide"))), mp4, AV{Duration: 3, Width: 1280, Height: 720}, false},
		{"rotated 90 swaps size", cat(ft, box("moov", mvhd(0, 1000, 500), trak(tkhd(0, 1920, 1080, matrixRotate90), "vide"))), mp4, AV{Duration: 0.5, Width: 1080, Height: 1920}, false},
		{"audio only", cat(ft, box("moov", mvhd(0, 44100, 44100*60), trak(tkhd(0, 0, 0, matrixIdentity), "soun"))), m4a, AV{Duration: 60}, false},
		{"subtitle track with size is not video", cat(ft, box("moov", mvhd(0, 1, 1), trak(tkhd(0, 320, 240, matrixIdentity), "sbtl"))), mp4, AV{Duration: 1}, false},
		{"track without hdlr counts as video", cat(ft, box("moov", mvhd(0, 1, 1), box("trak", tkhd(0, 320, 240, matrixIdentity)))), mp4, AV{Duration: 1, Width: 320, Height: 240}, false},
		{"fragmented: duration from mehd", cat(ft, box("moov", mvhd(0, 1000, 0), box("mvex", fullBox("mehd", 0, binary.BigEndian.AppendUint32(nil, 7000))))), mp4, AV{Duration: 7}, false},
		{"unknown duration", cat(ft, box("moov", mvhd(0, 1000, 0xFFFFFFFF))), mp4, AV{}, false},
		{"zero timescale", cat(ft, box("moov", mvhd(0, 0, 1000))), mp4, AV{}, false},
		{"64-bit box size", cat(ft, large, box("moov", mvhd(0, 10, 25))), mp4, AV{Duration: 2.5}, false},
		{"size 0 box after moov", cat(ft, box("moov", mvhd(0, 10, 25)), toEnd), mp4, AV{Duration: 2.5}, false},
		{"truncated mdat after moov", cat(ft, box("moov", mvhd(0, 10, 25)), box("mdat", make([]byte, 100))[:50]), mp4, AV{Duration: 2.5}, false},
		{"malformed box inside trak", cat(ft, box("moov", mvhd(0, 10, 25), box("trak", []byte{0, 0, 0, 99, 't', 'k', 'h', 'd'}))), mp4, AV{}, true},

		{"no moov", cat(ft, box("mdat", make([]byte, 10))), mp4, AV{}, true},
		{"empty", nil, mp4, AV{}, true},
		{"size 0 box before moov swallows it", cat(ft, toEnd, box("moov", mvhd(0, 10, 25))), mp4, AV{}, true},
		{"size larger than file", cat(ft, []byte{0, 0, 0x10, 0, 'm', 'o', 'o', 'v'}, mvhd(0, 10, 25)), mp4, AV{}, true},
		{"size smaller than header", cat(ft, []byte{0, 0, 0, 4, 'f', 'r', 'e', 'e'}, box("moov", mvhd(0, 10, 25))), mp4, AV{}, true},
		{"64-bit size smaller than header", cat(ft, []byte{0, 0, 0, 1, 'f', 'r', 'e', 'e'}, binary.BigEndian.AppendUint64(nil, 8), box("moov", mvhd(0, 10, 25))), mp4, AV{}, true},
		{"64-bit size overflowing", cat(ft, []byte{0, 0, 0, 1, 'f', 'r', 'e', 'e'}, binary.BigEndian.AppendUint64(nil, math.MaxUint64), box("moov", mvhd(0, 10, 25))), mp4, AV{}, true},
		{"truncated 64-bit header", cat(ft, []byte{0, 0, 0, 1, 'f', 'r', 'e', 'e', 0, 0}), mp4, AV{}, true},
		{"trailing bytes shorter than a header", cat(ft, []byte{0, 0, 0}), mp4, AV{}, true},
		{"child larger than parent", cat(ft, box("moov", mvhd(0, 10, 25), []byte{0, 0, 1, 0, 't', 'r', 'a', 'k'})), mp4, AV{}, true},
		{"moov without mvhd", cat(ft, box("moov", trak(tkhd(0, 1, 1, matrixIdentity), "vide"))), mp4, AV{}, true},
		{"short mvhd", cat(ft, box("moov", fullBox("mvhd", 0, make([]byte, 4)))), mp4, AV{}, true},
		{"mvhd unknown version", cat(ft, box("moov", fullBox("mvhd", 7, make([]byte, 100)))), mp4, AV{}, true},

		{"webm is not probed", []byte{0x1A, 0x45, 0xDF, 0xA3}, Format{KindVideo, "video/webm", "webm"}, AV{}, false},
		{"mp3 is not probed", []byte("ID3\x04"), Format{KindAudio, "audio/mpeg", "mp3"}, AV{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ProbeAV(tt.data, tt.f)
			if tt.corrupt {
				if err == nil {
					t.Fatalf("ProbeAV = %+v, want ErrCorrupt", got)
				}
				if c := errCode(t, err); c != ErrCorrupt {
					t.Fatalf("code = %v, want ErrCorrupt", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("ProbeAV: %v", err)
			}
			if math.Abs(got.Duration-tt.want.Duration) > 1e-9 || got.Width != tt.want.Width || got.Height != tt.want.Height {
				t.Errorf("ProbeAV = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestProbeAVNested checks deeply nested and self-similar boxes: only the
// known path is descended, so nesting cannot recurse or loop.
func TestProbeAVNested(t *testing.T) {
	inner := mvhd(0, 1, 1)
	for range 1000 {
		inner = box("moov", inner)
	}
	data := append(ftyp("isom", "isom")[:20], inner...)
	if _, err := ProbeAV(data, Format{KindVideo, "video/mp4", "mp4"}); err == nil {
		t.Error("want ErrCorrupt for mvhd buried below moov/moov")
	}
	// Thousands of empty trak boxes.
	var traks []byte
	for range 5000 {
		traks = append(traks, box("trak")...)
	}
	av, err := ProbeAV(append(ftyp("isom")[:16], box("moov", mvhd(0, 2, 4), traks)...), Format{KindVideo, "video/mp4", "mp4"})
	if err != nil || av.Duration != 2 {
		t.Errorf("ProbeAV = %+v, %v", av, err)
	}
}

// TestProbeAVTruncations runs every prefix of a valid file: none may make
// ProbeAV panic or fail with anything but an *Error.
func TestProbeAVTruncations(t *testing.T) {
	data := minimalMP4()
	for n := 0; n <= len(data); n++ {
		if _, err := ProbeAV(data[:n], Format{KindVideo, "video/mp4", "mp4"}); err != nil {
			errCode(t, err)
		}
	}
}

// FuzzProbeAV checks that no input makes ProbeAV panic or return anything
// but an *Error.
func FuzzProbeAV(f *testing.F) {
	f.Add(minimalMP4())
	f.Add(append(ftyp("qt  ")[:16], box("moov", mvhd(1, 600, 6000), trak(tkhd(1, 4, 4, matrixRotate90), "vide"))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		av, err := ProbeAV(b, Format{KindVideo, "video/mp4", "mp4"})
		if err != nil {
			errCode(t, err)
			return
		}
		if av.Width < 0 || av.Height < 0 || av.Duration < 0 || math.IsNaN(av.Duration) || math.IsInf(av.Duration, 0) {
			t.Errorf("ProbeAV = %+v", av)
		}
	})
}
