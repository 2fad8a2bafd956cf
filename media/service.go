// Package media is Starling's Media service: uploads, their processing as
// jobs on a durable work queue, replicated storage and delivery.
//
// An upload's bytes go straight into the engine's blob store (chunks of
// 256 KiB, so any byte range is cheap to read); its record lives in the
// partitioned "media" table (media.<id>). A job on the MEDIA_JOBS stream
// makes a worker (any node running Media) decode the image with its own
// format's decoder after checking size and pixel count, apply the EXIF
// orientation, re-encode it (which drops all metadata, EXIF GPS included),
// and make a preview and a blurhash. Video and audio are stored as uploaded
// (no transcoding). A scheduled job deletes media still unattached a day
// later.
package media

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/media/imaging"
	"github.com/starling-social/starling/telemetry"
)

// Defaults.
const (
	DefaultUnattachedTTL = 24 * time.Hour
	maxDescription       = 1500
	jobsStream           = "MEDIA_JOBS"
	doneSubject          = "starling.media.done" // + "." + id: processing finished
)

// Config holds the Service's dependencies and settings.
type Config struct {
	Engine    *engine.Engine
	IDs       *engine.IDs
	Telemetry *telemetry.Telemetry
	// Workers is how many jobs this instance processes at once (default 2;
	// negative: none, the instance only serves).
	Workers int
	// UnattachedTTL: unattached uploads older than this are deleted.
	UnattachedTTL time.Duration
	// Limits; DefaultLimits if ImageBytes is zero.
	Limits starling.MediaLimits
}

// DefaultLimits are Mastodon's.
func DefaultLimits() starling.MediaLimits {
	return starling.MediaLimits{
		ImageBytes: 16 << 20, VideoBytes: 100 << 20, ImagePixels: 33_177_600, VideoPixels: 8_294_400,
		VideoFrameRate: 120, DescriptionMax: maxDescription, AttachmentsMax: 4,
		SupportedMIMEs: []string{"image/jpeg", "image/png", "image/gif", "image/webp",
			"video/mp4", "video/quicktime", "video/webm", "audio/mpeg", "audio/ogg", "audio/wav", "audio/mp4"},
	}
}

// Service is the local implementation of starling.MediaService.
type Service struct {
	cfg    Config
	tab    *engine.Table
	blobs  *engine.Blobs
	ids    *engine.IDs
	tel    *telemetry.Telemetry
	log    *slog.Logger
	js     jetstream.JetStream
	nc     *nats.Conn
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sub    *nats.Subscription

	mu    sync.RWMutex
	cache map[starling.ID]*record // records of attached (immutable) media
}

var _ starling.MediaService = (*Service)(nil)

// New creates the media table, blob store and job stream if needed and
// starts the workers. Close stops them.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.UnattachedTTL == 0 {
		cfg.UnattachedTTL = DefaultUnattachedTTL
	}
	if cfg.Limits.ImageBytes == 0 {
		cfg.Limits = DefaultLimits()
	}
	tab, err := cfg.Engine.Table(ctx, engine.TableConfig{Name: "media"})
	if err != nil {
		return nil, err
	}
	blobs, err := cfg.Engine.Blobs(ctx, "media")
	if err != nil {
		return nil, err
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	err = cfg.Engine.Stream(ctx, jetstream.StreamConfig{
		Name:              jobsStream,
		Description:       "media processing and clean-up jobs",
		Subjects:          []string{"media.jobs.>", "media.sched.>"},
		Retention:         jetstream.LimitsPolicy,
		MaxAge:            cfg.UnattachedTTL + 24*time.Hour,
		Storage:           jetstream.FileStorage,
		Discard:           jetstream.DiscardOld,
		Duplicates:        10 * time.Minute,
		AllowMsgSchedules: true,
		AllowRollup:       true,
	})
	if err != nil {
		return nil, fmt.Errorf("media jobs stream: %w", err)
	}
	s := &Service{cfg: cfg, tab: tab, blobs: blobs, ids: cfg.IDs, tel: cfg.Telemetry,
		log: cfg.Telemetry.Log.With("service", "media"), js: cfg.Engine.JetStream(), nc: cfg.Engine.Conn(),
		cache: map[starling.ID]*record{}}
	s.sub, err = s.nc.Subscribe(starling.SubjectMediaChanged+".*", func(m *nats.Msg) {
		if id, err := starling.ParseID(m.Subject[len(starling.SubjectMediaChanged)+1:]); err == nil {
			s.mu.Lock()
			delete(s.cache, id)
			s.mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	cfg.Engine.OnConnectionChange(func(bool) {
		s.mu.Lock()
		clear(s.cache)
		s.mu.Unlock()
	})
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if cfg.Workers > 0 { // negative: serve only
		if err := s.startWorkers(wctx, cfg.Workers); err != nil {
			cancel()
			return nil, err
		}
	}
	return s, nil
}

// Close stops the workers.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
	_ = s.sub.Unsubscribe()
}

// Limits returns the upload limits.
func (s *Service) Limits() starling.MediaLimits { return s.cfg.Limits }

// record is an attachment as stored.
type record struct {
	ID          starling.ID      `json:"id"`
	Account     starling.ID      `json:"account"`
	Status      starling.ID      `json:"status,omitempty"`
	Kind        string           `json:"kind"`
	Purpose     string           `json:"purpose,omitempty"` // avatar, header or "" (a status's)
	MIME        string           `json:"mime"`
	Ext         string           `json:"ext"`
	State       string           `json:"state"` // processing, ready, failed
	Error       string           `json:"error,omitempty"`
	Original    engine.BlobInfo  `json:"original"`
	Preview     *engine.BlobInfo `json:"preview,omitempty"`
	PreviewMIME string           `json:"preview_mime,omitempty"`
	PreviewExt  string           `json:"preview_ext,omitempty"`
	Width       int              `json:"width,omitempty"`
	Height      int              `json:"height,omitempty"`
	PreviewW    int              `json:"preview_w,omitempty"`
	PreviewH    int              `json:"preview_h,omitempty"`
	Duration    float64          `json:"duration,omitempty"`
	Description string           `json:"description,omitempty"`
	FocusX      float64          `json:"focus_x,omitempty"`
	FocusY      float64          `json:"focus_y,omitempty"`
	Blurhash    string           `json:"blurhash,omitempty"`
	Created     time.Time        `json:"created"`
	rev         uint64
}

const (
	stateProcessing = "processing"
	stateReady      = "ready"
	stateFailed     = "failed"
)

func mediaKey(id starling.ID) string          { return "media." + id.String() }
func blobKey(id starling.ID, v string) string { return id.String() + "-" + v }

// fileName is the last path element of a stored file's URL: it carries
// part of the content hash, so a URL never changes meaning (immutable).
func fileName(variant string, b engine.BlobInfo, ext string) string {
	return variant + "-" + b.SHA256[:16] + "." + ext
}

func (r *record) attachment() *starling.MediaAttachment {
	a := &starling.MediaAttachment{ID: r.ID, AccountID: r.Account, Type: r.Kind, MIMEType: r.MIME, Size: r.Original.Size,
		Width: r.Width, Height: r.Height, PreviewW: r.PreviewW, PreviewH: r.PreviewH, Duration: r.Duration,
		Description: r.Description, FocusX: r.FocusX, FocusY: r.FocusY, Blurhash: r.Blurhash, StatusID: r.Status,
		CreatedAt: r.Created, Processed: r.State == stateReady, Revision: r.rev}
	if r.State == stateReady {
		a.URL = "/media/" + r.ID.String() + "/" + fileName("original", r.Original, r.Ext)
		a.PreviewURL = a.URL
		if r.Preview != nil {
			a.PreviewURL = "/media/" + r.ID.String() + "/" + fileName("small", *r.Preview, r.PreviewExt)
		}
	}
	return a
}

// load reads a record, from the cache if it is there; what it reads of
// attached media it caches.
func (s *Service) load(ctx context.Context, id starling.ID) (*record, error) {
	s.mu.RLock()
	r := s.cache[id]
	s.mu.RUnlock()
	if r != nil {
		return r, nil
	}
	r, err := s.fresh(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.State == stateReady && r.Status != 0 {
		// Attached media changes rarely; changes evict it everywhere.
		s.mu.Lock()
		if len(s.cache) > 100_000 {
			clear(s.cache)
		}
		s.cache[id] = r
		s.mu.Unlock()
	}
	return r, nil
}

// store writes a record with compare-and-set on its revision (0: create)
// and tells other nodes' caches.
func (s *Service) store(ctx context.Context, r *record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return starling.Wrap(starling.Internal, "", err)
	}
	var rev uint64
	if r.rev == 0 {
		rev, err = s.tab.Create(ctx, mediaKey(r.ID), data, 0)
	} else {
		rev, err = s.tab.Update(ctx, mediaKey(r.ID), data, r.rev)
	}
	if err != nil {
		return err
	}
	r.rev = rev
	s.changed(r.ID)
	return nil
}

func (s *Service) changed(id starling.ID) {
	s.mu.Lock()
	delete(s.cache, id)
	s.mu.Unlock()
	_ = s.nc.Publish(starling.SubjectMediaChanged+"."+id.String(), nil)
}

var errNotFound = &starling.Error{Code: starling.NotFound, Message: "Record not found"}

// own loads one of account's media.
func (s *Service) own(ctx context.Context, account, id starling.ID) (*record, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Account != account {
		return nil, errNotFound
	}
	return r, nil
}

// Upload stores the file within its type's size limit (the type comes
// from its first bytes) and registers it.
func (s *Service) Upload(ctx context.Context, account starling.ID, u starling.MediaUpload) (*starling.MediaAttachment, error) {
	ctx, span := s.tel.Tracer.Start(ctx, "media.Upload")
	defer span.End()
	if err := s.checkMeta(u.Description, u.Focus); err != nil {
		return nil, err
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(u.Body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		if errors.Is(err, io.EOF) {
			return nil, starling.Errorf(starling.Invalid, "Validation failed: File is empty")
		}
		return nil, starling.Wrap(starling.Invalid, "The upload was interrupted", err)
	}
	head = head[:n]
	f, err := imaging.Detect(head)
	if err != nil {
		return nil, imagingError(err)
	}
	if err := checkPurpose(u.Purpose, f); err != nil {
		return nil, err
	}
	id, err := s.Reserve(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.blobs.Put(ctx, blobKey(id, "original"), io.MultiReader(bytes.NewReader(head), u.Body), s.maxBytes(f.Kind))
	if err != nil {
		return nil, err
	}
	return s.register(ctx, account, id, info, f, u.Description, u.Focus, u.Purpose, u.Wait)
}

// checkPurpose refuses what cannot be a profile image.
func checkPurpose(purpose string, f imaging.Format) error {
	switch purpose {
	case "":
		return nil
	case starling.MediaAvatar, starling.MediaHeader:
		if f.Kind != imaging.KindImage {
			return starling.Errorf(starling.Invalid, "Validation failed: %s must be an image (JPEG, PNG, GIF or WebP)", strings.ToUpper(purpose[:1])+purpose[1:])
		}
		return nil
	}
	return starling.Errorf(starling.Invalid, "unknown media purpose %q", purpose)
}

// Reserve returns the ID of a new upload, whose bytes the caller then puts
// in the blob store as "<id>-original" before calling Register.
func (s *Service) Reserve(ctx context.Context) (starling.ID, error) { return s.ids.Next() }

func (s *Service) maxBytes(k imaging.Kind) int64 {
	if k == imaging.KindImage {
		return s.cfg.Limits.ImageBytes
	}
	return s.cfg.Limits.VideoBytes
}

func (s *Service) checkMeta(description, focus string) error {
	if err := s.checkDescription(description); err != nil {
		return err
	}
	_, _, err := parseFocus(focus)
	return err
}

func (s *Service) checkDescription(description string) error {
	if utf8.RuneCountInString(description) > s.cfg.Limits.DescriptionMax {
		return starling.Errorf(starling.Invalid, "Validation failed: Description is too long (maximum is %d characters)", s.cfg.Limits.DescriptionMax)
	}
	return nil
}

// Register records an upload whose bytes are stored, after checking them
// itself (type from content, size limit by type), queues its processing
// and waits up to wait for the result. Whatever it refuses is deleted.
func (s *Service) Register(ctx context.Context, account, id starling.ID, info engine.BlobInfo, description, focus, purpose string, wait time.Duration) (*starling.MediaAttachment, error) {
	if err := s.checkMeta(description, focus); err != nil {
		return s.discard(ctx, id, err)
	}
	head, err := s.blobs.ReadAll(ctx, blobKey(id, "original"), min(info.Size, 512))
	if err != nil {
		return s.discard(ctx, id, err)
	}
	f, err := imaging.Detect(head)
	if err != nil {
		return s.discard(ctx, id, imagingError(err))
	}
	if err := checkPurpose(purpose, f); err != nil {
		return s.discard(ctx, id, err)
	}
	return s.register(ctx, account, id, info, f, description, focus, purpose, wait)
}

// register is Register once the description and focus are checked and the
// format is known (Upload knows both before it stores the bytes).
func (s *Service) register(ctx context.Context, account, id starling.ID, info engine.BlobInfo, f imaging.Format, description, focus, purpose string, wait time.Duration) (*starling.MediaAttachment, error) {
	if max := s.maxBytes(f.Kind); info.Size > max {
		return s.discard(ctx, id, starling.Errorf(starling.Invalid, "Validation failed: File is too large (maximum is %d MB)", max>>20))
	}
	fx, fy, _ := parseFocus(focus)
	r := &record{ID: id, Account: account, Kind: string(f.Kind), Purpose: purpose, MIME: f.MIME, Ext: f.Ext, State: stateProcessing,
		Original: info, Description: description, FocusX: fx, FocusY: fy, Created: time.Now().UTC()}
	if err := s.store(ctx, r); err != nil {
		return s.discard(ctx, id, err)
	}
	// Learn of the result before queueing the job, so it cannot be missed.
	done := make(chan struct{}, 1)
	sub, err := s.nc.Subscribe(doneSubject+"."+id.String(), func(*nats.Msg) {
		select {
		case done <- struct{}{}:
		default:
		}
	})
	if err == nil {
		defer sub.Unsubscribe()
	}
	if err := s.enqueue(ctx, id, r.Created); err != nil {
		s.remove(context.WithoutCancel(ctx), r) // no job will process or collect it
		return nil, err
	}
	return s.await(ctx, account, id, wait, done)
}

// discard deletes the bytes of a refused upload and returns err.
func (s *Service) discard(ctx context.Context, id starling.ID, err error) (*starling.MediaAttachment, error) {
	_ = s.blobs.Delete(context.WithoutCancel(ctx), blobKey(id, "original"))
	return nil, err
}

// enqueue publishes the processing job and schedules the clean-up job.
func (s *Service) enqueue(ctx context.Context, id starling.ID, created time.Time) error {
	job := nats.NewMsg("media.jobs.process." + id.String())
	telemetry.Inject(ctx, map[string][]string(job.Header)) // the job joins the upload's trace
	_, err := s.js.PublishMsg(ctx, job, jetstream.WithMsgID("process-"+id.String()))
	if err != nil {
		return starling.Wrap(starling.Unavailable, "Storage temporarily unavailable", err)
	}
	gc := nats.NewMsg("media.sched.gc." + id.String())
	gc.Header.Set("Nats-Schedule", "@at "+created.Add(s.cfg.UnattachedTTL).UTC().Format(time.RFC3339))
	gc.Header.Set("Nats-Schedule-Target", "media.jobs.gc."+id.String())
	if _, err := s.js.PublishMsg(ctx, gc); err != nil {
		s.log.WarnContext(ctx, "schedule media clean-up", "media", id, "err", err)
	}
	return nil
}

// await waits for processing up to wait and returns the attachment. A
// failed one is deleted and reported as Invalid.
func (s *Service) await(ctx context.Context, account, id starling.ID, wait time.Duration, done <-chan struct{}) (*starling.MediaAttachment, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		r, err := s.own(ctx, account, id)
		if err != nil {
			return nil, err
		}
		if r.State != stateProcessing {
			return s.result(ctx, r)
		}
		select {
		case <-done:
		case <-poll.C:
		case <-deadline.C:
			return r.attachment(), nil
		case <-ctx.Done():
			return r.attachment(), nil
		}
	}
}

// result turns a finished record into the API's answer: a failed upload
// is reported once as Invalid, and removed.
func (s *Service) result(ctx context.Context, r *record) (*starling.MediaAttachment, error) {
	if r.State == stateFailed {
		s.remove(context.WithoutCancel(ctx), r)
		return nil, &starling.Error{Code: starling.Invalid, Message: "Validation failed: " + r.Error}
	}
	return r.attachment(), nil
}

// remove deletes a record and its blobs.
func (s *Service) remove(ctx context.Context, r *record) {
	for _, v := range []string{"original", "small"} {
		if err := s.blobs.Delete(ctx, blobKey(r.ID, v)); err != nil {
			s.log.WarnContext(ctx, "delete media blob", "media", r.ID, "err", err)
		}
	}
	if err := s.tab.Delete(ctx, mediaKey(r.ID), 0); err != nil {
		s.log.WarnContext(ctx, "delete media record", "media", r.ID, "err", err)
	}
	s.changed(r.ID)
}

// Media returns one of the account's attachments; a failed one is reported
// as Invalid and removed.
func (s *Service) Media(ctx context.Context, account, id starling.ID) (*starling.MediaAttachment, error) {
	r, err := s.own(ctx, account, id)
	if err != nil {
		return nil, err
	}
	return s.result(ctx, r)
}

// UpdateMedia changes the description or focus.
func (s *Service) UpdateMedia(ctx context.Context, account, id starling.ID, u starling.MediaUpdate) (*starling.MediaAttachment, error) {
	if u.Description != nil {
		if err := s.checkDescription(*u.Description); err != nil {
			return nil, err
		}
	}
	var fx, fy float64
	var err error
	if u.Focus != nil {
		if fx, fy, err = parseFocus(*u.Focus); err != nil {
			return nil, err
		}
	}
	for attempt := 0; attempt < 3; attempt++ {
		r, err := s.fresh(ctx, id)
		if err != nil {
			return nil, err
		}
		if r.Account != account {
			return nil, errNotFound
		}
		if u.Description != nil {
			r.Description = *u.Description
		}
		if u.Focus != nil {
			r.FocusX, r.FocusY = fx, fy
		}
		err = s.store(ctx, r)
		if starling.IsCode(err, starling.Conflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return r.attachment(), nil
	}
	return nil, &starling.Error{Code: starling.Conflict, Message: "Conflict during update, please try again"}
}

// fresh reads a record from the table, bypassing the cache (for
// read-modify-write).
func (s *Service) fresh(ctx context.Context, id starling.ID) (*record, error) {
	ent, err := s.tab.Get(ctx, mediaKey(id))
	if err != nil {
		return nil, err
	}
	r := &record{}
	if err := json.Unmarshal(ent.Value, r); err != nil {
		return nil, starling.Wrap(starling.Internal, "", err)
	}
	r.rev = ent.Revision
	return r, nil
}

// DeleteMedia deletes unattached media.
func (s *Service) DeleteMedia(ctx context.Context, account, id starling.ID) error {
	r, err := s.fresh(ctx, id)
	if err != nil {
		return err
	}
	if r.Account != account {
		return errNotFound
	}
	if r.Status != 0 {
		return starling.Errorf(starling.Invalid, "Media attachment is currently used by a status")
	}
	s.remove(ctx, r)
	return nil
}

// Attach marks media as used by a status: each must be the account's,
// processed and unused (or already used by this status).
func (s *Service) Attach(ctx context.Context, account, status starling.ID, ids []starling.ID) error {
	if len(ids) > s.cfg.Limits.AttachmentsMax {
		return starling.Errorf(starling.Invalid, "Validation failed: Media attachments limit of %d exceeded", s.cfg.Limits.AttachmentsMax)
	}
	var recs []*record
	for _, id := range ids {
		r, err := s.fresh(ctx, id)
		if starling.IsCode(err, starling.NotFound) {
			return starling.Errorf(starling.Invalid, "Validation failed: media %s not found", id)
		}
		if err != nil {
			return err
		}
		switch {
		case r.Account != account:
			return starling.Errorf(starling.Invalid, "Validation failed: media %s not found", id)
		case r.State != stateReady:
			return starling.Errorf(starling.Invalid, "Validation failed: media %s has not finished processing", id)
		case r.Status != 0 && r.Status != status:
			return starling.Errorf(starling.Invalid, "Validation failed: media %s is already used by another status", id)
		}
		recs = append(recs, r)
	}
	for _, r := range recs {
		if r.Status == status {
			continue
		}
		r.Status = status
		if err := s.store(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Attachments returns attachments by ID.
func (s *Service) Attachments(ctx context.Context, ids []starling.ID) ([]*starling.MediaAttachment, error) {
	out := make([]*starling.MediaAttachment, 0, len(ids))
	for _, id := range ids {
		r, err := s.load(ctx, id)
		if starling.IsCode(err, starling.NotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r.attachment())
	}
	return out, nil
}

// DeleteAttached deletes the media of a deleted status.
func (s *Service) DeleteAttached(ctx context.Context, account, status starling.ID, ids []starling.ID) error {
	for _, id := range ids {
		r, err := s.fresh(ctx, id)
		if starling.IsCode(err, starling.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if r.Account == account && r.Status == status {
			s.remove(ctx, r)
		}
	}
	return nil
}

// Open opens a stored file by its URL name.
func (s *Service) Open(ctx context.Context, id starling.ID, name string) (*starling.MediaFile, error) {
	ref, err := s.Locate(ctx, id, name)
	if err != nil {
		return nil, err
	}
	return s.blobs.Open(ctx, ref), nil
}

// Locate returns where the file of media id named name is stored.
func (s *Service) Locate(ctx context.Context, id starling.ID, name string) (engine.BlobRef, error) {
	r, err := s.load(ctx, id)
	if err != nil {
		return engine.BlobRef{}, err
	}
	if r.State != stateReady {
		return engine.BlobRef{}, errNotFound
	}
	switch {
	case name == fileName("original", r.Original, r.Ext):
		return engine.BlobRef{Key: blobKey(r.ID, "original"), BlobInfo: r.Original, MIME: r.MIME, Modified: r.Created}, nil
	case r.Preview != nil && name == fileName("small", *r.Preview, r.PreviewExt):
		return engine.BlobRef{Key: blobKey(r.ID, "small"), BlobInfo: *r.Preview, MIME: r.PreviewMIME, Modified: r.Created}, nil
	}
	return engine.BlobRef{}, errNotFound
}

// parseFocus parses "x,y" with both in [-1, 1].
func parseFocus(s string) (float64, float64, error) {
	if s == "" {
		return 0, 0, nil
	}
	xs, ys, ok := strings.Cut(s, ",")
	x, err1 := strconv.ParseFloat(strings.TrimSpace(xs), 64)
	y, err2 := strconv.ParseFloat(strings.TrimSpace(ys), 64)
	if !ok || err1 != nil || err2 != nil || x < -1 || x > 1 || y < -1 || y > 1 {
		return 0, 0, starling.Errorf(starling.Invalid, "Validation failed: focus must be two numbers between -1 and 1, like 0.5,-0.2")
	}
	return x, y, nil
}

// imagingError turns an imaging error into a client error.
func imagingError(err error) error {
	var ie *imaging.Error
	if errors.As(err, &ie) {
		return &starling.Error{Code: starling.Invalid, Message: "Validation failed: " + ie.Msg, Err: err}
	}
	return starling.Wrap(starling.Internal, "", err)
}
