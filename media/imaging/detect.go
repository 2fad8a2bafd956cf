package imaging

import (
	"bytes"
	"encoding/binary"
)

// Kind is the broad category of a media file, as used by the Mastodon API's
// media attachment "type" field.
type Kind string

// Media kinds, as [Detect] returns them.
const (
	KindImage Kind = "image"
	KindVideo Kind = "video"
	KindAudio Kind = "audio"
)

// Format is what [Detect] recognised.
type Format struct {
	Kind Kind
	MIME string // e.g. "image/jpeg", "video/mp4", "audio/mpeg"
	Ext  string // e.g. "jpg", "png", "gif", "webp", "mp4", "webm", "mov", "mp3", "ogg", "wav", "m4a"
}

// MIME types of the formats this package knows.
const (
	mimeJPEG = "image/jpeg"
	mimePNG  = "image/png"
	mimeGIF  = "image/gif"
	mimeWebP = "image/webp"
	mimeMP4  = "video/mp4"
	mimeMOV  = "video/quicktime"
	mimeM4A  = "audio/mp4"
	mimeWebM = "video/webm"
	mimeOgg  = "audio/ogg"
	mimeMP3  = "audio/mpeg"
	mimeWAV  = "audio/wav"
)

func formatJPEG() Format { return Format{KindImage, mimeJPEG, "jpg"} }
func formatPNG() Format  { return Format{KindImage, mimePNG, "png"} }
func formatGIF() Format  { return Format{KindImage, mimeGIF, "gif"} }
func formatWebP() Format { return Format{KindImage, mimeWebP, "webp"} }
func formatMP4() Format  { return Format{KindVideo, mimeMP4, "mp4"} }
func formatMOV() Format  { return Format{KindVideo, mimeMOV, "mov"} }
func formatM4A() Format  { return Format{KindAudio, mimeM4A, "m4a"} }
func formatWebM() Format { return Format{KindVideo, mimeWebM, "webm"} }
func formatOgg() Format  { return Format{KindAudio, mimeOgg, "ogg"} }
func formatMP3() Format  { return Format{KindAudio, mimeMP3, "mp3"} }
func formatWAV() Format  { return Format{KindAudio, mimeWAV, "wav"} }

// Detect recognises a format from the first bytes of a file (pass at least
// 512 bytes when available). Only the bytes are looked at: file names and
// client-supplied content types must not be trusted and are not taken.
//
// Supported: JPEG, PNG, GIF, WebP (KindImage); MP4, M4V and QuickTime MOV
// (an "ftyp" box with a known brand; audio-only brands such as M4A give
// audio/mp4), WebM/Matroska (EBML header; video/webm), Ogg (audio/ogg), MP3
// (ID3v2 tag or a valid MPEG audio frame header; audio/mpeg) and WAV
// (RIFF....WAVE; audio/wav). HEIF/AVIF and other ISO-BMFF image brands are
// not supported.
//
// Anything else gives an *[Error] with Code [ErrUnsupported]. Detect never
// panics, whatever the length or content of head.
func Detect(head []byte) (Format, error) {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return formatJPEG(), nil
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG(), nil
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return formatGIF(), nil
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WEBP":
		return formatWebP(), nil
	case len(head) >= 12 && string(head[0:4]) == "RIFF" && string(head[8:12]) == "WAVE":
		return formatWAV(), nil
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		if f, ok := detectFtyp(head); ok {
			return f, nil
		}
	case bytes.HasPrefix(head, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		return formatWebM(), nil
	case bytes.HasPrefix(head, []byte("OggS\x00")):
		return formatOgg(), nil
	case len(head) >= 10 && string(head[0:3]) == "ID3" && head[3] >= 2 && head[3] <= 4 && head[4] != 0xFF:
		return formatMP3(), nil
	case isMPEGAudioFrame(head):
		return formatMP3(), nil
	}
	return Format{}, errUnsupported(nil)
}

// Classes of ISO base media file format brands (ISO/IEC 14496-12 "ftyp").
const (
	brandUnknown = iota
	brandVideo
	brandQuickTime
	brandAudio
	// brandImage marks HEIF/AVIF still images and sequences, which share the
	// container but are not supported; it wins over any video brand.
	brandImage
)

func brandClass(b []byte) int {
	switch string(b) {
	case "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9",
		"mp41", "mp42", "mp71", "avc1", "dash", "cmfc", "cmf2",
		"M4V ", "M4VH", "M4VP", "MSNV", "NDAS", "NDSC", "NDSH", "NDSM", "NDSP", "NDSS", "NDXC", "NDXH", "NDXM", "NDXP", "NDXS",
		"3gp4", "3gp5", "3gp6", "3gp7", "3ge6", "3ge7", "3gg6", "3g2a", "3g2b", "3g2c",
		"f4v ", "mmp4", "XAVC":
		return brandVideo
	case "qt  ":
		return brandQuickTime
	case "M4A ", "M4B ", "M4P ", "F4A ", "F4B ":
		return brandAudio
	case "mif1", "msf1", "miaf", "heic", "heix", "heim", "heis", "hevc", "hevx", "hevm", "hevs", "avif", "avis", "avio", "crx ", "jp2 ", "jpx ":
		return brandImage
	}
	return brandUnknown
}

// detectFtyp classifies an ISO-BMFF file by its ftyp box: major brand first,
// then compatible brands (within the bytes available).
func detectFtyp(head []byte) (Format, bool) {
	switch brandClass(head[8:12]) {
	case brandQuickTime:
		return formatMOV(), true
	case brandAudio:
		return formatM4A(), true
	case brandVideo:
		return formatMP4(), true
	case brandImage:
		return Format{}, false
	}
	// Unknown major brand: look at the compatible brands, which follow
	// major_brand and minor_version, within the box and the bytes given.
	end := int64(len(head))
	if size := int64(binary.BigEndian.Uint32(head[0:4])); size >= 16 && size < end {
		end = size
	}
	var video, qt bool
	for i := int64(16); i+4 <= end; i += 4 {
		switch brandClass(head[i : i+4]) {
		case brandImage:
			return Format{}, false
		case brandVideo:
			video = true
		case brandQuickTime:
			qt = true
		}
	}
	switch {
	case video:
		return formatMP4(), true
	case qt:
		return formatMOV(), true
	}
	return Format{}, false
}

// isMPEGAudioFrame reports whether head starts with a plausible MPEG-1/2/2.5
// Layer I-III frame header: 11-bit sync, no reserved version or layer, a
// valid bitrate index and sample rate. ADTS AAC (layer 0) is rejected.
func isMPEGAudioFrame(head []byte) bool {
	if len(head) < 4 || head[0] != 0xFF || head[1]&0xE0 != 0xE0 {
		return false
	}
	version := (head[1] >> 3) & 3
	layer := (head[1] >> 1) & 3
	bitrate := head[2] >> 4
	rate := (head[2] >> 2) & 3
	emphasis := head[3] & 3
	return version != 1 && layer != 0 && bitrate != 0 && bitrate != 15 && rate != 3 && emphasis != 2
}
