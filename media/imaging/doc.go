// Package imaging detects, validates and processes uploaded media so that
// it can be stored and served safely.
//
// It is meant to be called from a background job with the raw bytes of an
// untrusted upload:
//
//	f, err := imaging.Detect(data)            // magic bytes only
//	switch f.Kind {
//	case imaging.KindImage:
//		img, err := imaging.ProcessImage(data, f, imaging.DefaultLimits())
//		// store img.Data, img.Preview; keep img.Blurhash, sizes, MIME types
//	case imaging.KindVideo, imaging.KindAudio:
//		av, err := imaging.ProbeAV(data, f)      // stored as uploaded
//	}
//
// Security properties:
//
//   - The format is recognised from the content's magic bytes only, never
//     from a file name or a client-supplied content type, and only that
//     format's own decoder is ever run (never [image.Decode]).
//   - The byte size, each dimension, the pixel count and (for GIF) the frame
//     count are checked from the headers before any pixel data is decoded,
//     so decompression bombs are refused quickly and cheaply.
//   - Every image is decoded and re-encoded, so no metadata (EXIF including
//     GPS position, XMP, IPTC, comments, text chunks, ICC profiles) survives.
//     The JPEG EXIF orientation is applied to the pixels first.
//   - The package does no file or network I/O and keeps no global mutable
//     state; all functions are safe for concurrent use.
//   - No input makes it panic; every failure is an *[Error] whose Msg is safe
//     to show to the user.
package imaging
