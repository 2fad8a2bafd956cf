package imaging

import "fmt"

// ErrorCode classifies why an upload was refused.
type ErrorCode int

// Error codes returned in [Error.Code].
const (
	// ErrUnsupported means the file is not of a supported type, or uses a
	// feature of that type that is not supported (e.g. animated WebP).
	ErrUnsupported ErrorCode = iota + 1
	// ErrTooLarge means the file has more bytes than [Limits.MaxBytes].
	ErrTooLarge
	// ErrTooManyPixels means a dimension, the pixel count or the frame count
	// exceeds [Limits]. It is reported before any pixel data is decoded.
	ErrTooManyPixels
	// ErrCorrupt means the file claims to be of a supported type but could not
	// be parsed or decoded.
	ErrCorrupt
)

// String returns a short name for the code, for logs and metrics.
func (c ErrorCode) String() string {
	switch c {
	case ErrUnsupported:
		return "unsupported"
	case ErrTooLarge:
		return "too_large"
	case ErrTooManyPixels:
		return "too_many_pixels"
	case ErrCorrupt:
		return "corrupt"
	}
	return fmt.Sprintf("ErrorCode(%d)", int(c))
}

// Error is the only error type returned by this package.
//
// Msg is a sentence that is safe to show to the uploading user: it never
// contains file contents or internal details. Err, if non-nil, is the
// underlying cause (for example a decoder error) and is meant for logs only.
type Error struct {
	Code ErrorCode
	Msg  string
	Err  error
}

// Error returns Msg, followed by ": " and the cause if there is one. Show
// e.Msg, not e.Error(), to end users.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Unwrap returns the underlying cause, which may be nil.
func (e *Error) Unwrap() error { return e.Err }

// User-facing messages.
const (
	msgUnsupported  = "Unsupported file type"
	msgDimensions   = "Image dimensions are too large"
	msgFrames       = "Animation has too many frames"
	msgCorruptImage = "The file is damaged or not a valid image"
	msgCorruptAV    = "The file is damaged or not a valid video or audio file"
	msgAnimatedWebP = "Animated WebP images are not supported"
)

func errUnsupported(cause error) *Error {
	return &Error{Code: ErrUnsupported, Msg: msgUnsupported, Err: cause}
}

func errCorrupt(cause error) *Error {
	return &Error{Code: ErrCorrupt, Msg: msgCorruptImage, Err: cause}
}

func errPixels(msg string, cause error) *Error {
	return &Error{Code: ErrTooManyPixels, Msg: msg, Err: cause}
}

func errTooLarge(max int64) *Error {
	return &Error{Code: ErrTooLarge, Msg: "File is too large (maximum is " + formatSize(max) + ")"}
}

// formatSize renders a byte count for users: whole MiB as "16 MB" (the
// convention users expect), otherwise KB or bytes.
func formatSize(n int64) string {
	const kib, mib = 1 << 10, 1 << 20
	switch {
	case n >= mib && n%mib == 0:
		return fmt.Sprintf("%d MB", n/mib)
	case n >= mib:
		return fmt.Sprintf("%.1f MB", float64(n)/mib)
	case n >= kib && n%kib == 0:
		return fmt.Sprintf("%d KB", n/kib)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
