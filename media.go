package starling

import (
	"context"
	"io"
	"time"
)

// MediaAttachment is an uploaded image, video or audio file. URL and
// PreviewURL are paths below the public URL, empty while processing.
type MediaAttachment struct {
	ID          ID        `json:"id"`
	AccountID   ID        `json:"account_id"`
	Type        string    `json:"type"` // image, gifv, video, audio, unknown
	URL         string    `json:"url"`
	PreviewURL  string    `json:"preview_url"`
	MIMEType    string    `json:"mime_type"`
	Size        int64     `json:"size"`
	Width       int       `json:"width,omitempty"`
	Height      int       `json:"height,omitempty"`
	PreviewW    int       `json:"preview_width,omitempty"`
	PreviewH    int       `json:"preview_height,omitempty"`
	Duration    float64   `json:"duration,omitempty"`
	Description string    `json:"description"`
	FocusX      float64   `json:"focus_x"`
	FocusY      float64   `json:"focus_y"`
	Blurhash    string    `json:"blurhash"`
	StatusID    ID        `json:"status_id,omitempty"` // set once attached
	CreatedAt   time.Time `json:"created_at"`
	Processed   bool      `json:"processed"`
	Revision    uint64    `json:"revision"`
}

// MediaUpload is a file to upload.
type MediaUpload struct {
	Body        io.Reader // read to EOF
	Description string
	Focus       string // "x,y", each in [-1, 1]
	// Wait is how long Upload may wait for processing before returning an
	// attachment that is still processing.
	Wait time.Duration
	// Purpose is MediaAvatar or MediaHeader for a profile image (an image
	// only, cropped and resized for the purpose, a still), "" for an
	// attachment of a status.
	Purpose string
}

// Purposes of profile images.
const (
	MediaAvatar = "avatar"
	MediaHeader = "header"
)

// MediaUpdate changes an attachment's description or focus; nil keeps it.
type MediaUpdate struct {
	Description *string `json:"description,omitempty"`
	Focus       *string `json:"focus,omitempty"`
}

// MediaFile is a stored file opened for delivery. The caller must Close it.
type MediaFile struct {
	io.ReadSeeker
	Size     int64
	MIMEType string
	ETag     string // a strong validator: the content's SHA-256
	Modified time.Time
	Close    func()
}

// MediaLimits are the limits the instance advertises and enforces.
type MediaLimits struct {
	ImageBytes     int64
	VideoBytes     int64
	ImagePixels    int64
	VideoPixels    int64
	VideoFrameRate int
	DescriptionMax int
	AttachmentsMax int
	SupportedMIMEs []string
}

// MediaService stores uploads, processes them asynchronously and delivers
// them. Attachments belong to the account that uploaded them until a
// status uses them.
//
// Errors: Invalid (with a message for the client) for files that are too
// large, of an unsupported type, damaged or hostile, and for media that is
// not the caller's, not processed or already used; NotFound for unknown
// media or media of another account; Unavailable when the engine cannot
// answer. Safe for concurrent use.
type MediaService interface {
	// Upload stores a file and queues its processing.
	Upload(ctx context.Context, account ID, u MediaUpload) (*MediaAttachment, error)
	// Media returns one of the account's attachments.
	Media(ctx context.Context, account, id ID) (*MediaAttachment, error)
	UpdateMedia(ctx context.Context, account, id ID, u MediaUpdate) (*MediaAttachment, error)
	// DeleteMedia deletes an attachment no status uses.
	DeleteMedia(ctx context.Context, account, id ID) error
	// Attach marks the account's processed media as used by status (for
	// an avatar or header, status is the account itself): used media is
	// kept until DeleteAttached.
	Attach(ctx context.Context, account, status ID, ids []ID) error
	// Attachments returns attachments by ID, in order, leaving out unknown
	// ones.
	Attachments(ctx context.Context, ids []ID) ([]*MediaAttachment, error)
	// DeleteAttached deletes media of a deleted status (or a replaced
	// profile image: status is then the account).
	DeleteAttached(ctx context.Context, account, status ID, ids []ID) error
	// Open opens a file by the name in its URL, for delivery.
	Open(ctx context.Context, id ID, name string) (*MediaFile, error)
	// Limits returns what uploads may be.
	Limits() MediaLimits
}
