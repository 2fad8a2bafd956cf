package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/starling-social/starling"
)

// BlobChunk is the size of one stored chunk of a blob. Reading any byte
// range costs one direct get per chunk it spans, which is what makes Range
// requests (video seeking) cheap — the JetStream object store has no range
// reads.
const BlobChunk = 256 << 10

// Blobs stores large immutable values as chunks, one message per chunk on
// subject "blob.<name>_<p>.<key>.<n>", partitioned like tables by the first
// '-'-separated part of the key. Safe for concurrent use.
type Blobs struct {
	js      jetstream.JetStream
	name    string
	streams []jetstream.Stream // by partition
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// BlobRef locates a stored blob and says how to serve it.
type BlobRef struct {
	Key string `json:"key"`
	BlobInfo
	MIME     string    `json:"mime"`
	Modified time.Time `json:"modified"`
}

// Open opens a blob for reading; reads fetch only the chunks they touch.
func (b *Blobs) Open(ctx context.Context, ref BlobRef) *starling.MediaFile {
	return &starling.MediaFile{ReadSeeker: b.Reader(ctx, ref.Key, ref.Size), Size: ref.Size, MIMEType: ref.MIME,
		ETag: `"` + ref.SHA256 + `"`, Modified: ref.Modified, Close: func() {}}
}

// Blobs creates (if needed) and returns the blob store name.
func (e *Engine) Blobs(ctx context.Context, name string) (*Blobs, error) {
	b := &Blobs{js: e.js, name: name}
	for p := 0; p < e.cfg.Partitions; p++ {
		sc := jetstream.StreamConfig{
			Name:              fmt.Sprintf("BLOB_%s_%d", name, p),
			Subjects:          []string{fmt.Sprintf("blob.%s_%d.>", name, p)},
			MaxMsgsPerSubject: 1,
			MaxMsgs:           -1,
			MaxBytes:          -1,
			MaxMsgSize:        BlobChunk + 4096,
			Storage:           jetstream.FileStorage,
			Replicas:          e.cfg.Replicas,
			Discard:           jetstream.DiscardOld,
			AllowDirect:       true, // chunks never change: any replica's copy is right
			AllowRollup:       true,
		}
		st, err := ensureStream(ctx, e.js, sc)
		if err != nil {
			return nil, fmt.Errorf("blob store %s: %w", sc.Name, err)
		}
		b.streams = append(b.streams, st)
	}
	return b, nil
}

func (b *Blobs) partition(key string) int {
	tok := key
	for i := 0; i < len(key); i++ {
		if key[i] == '-' {
			tok = key[:i]
			break
		}
	}
	return Partition("x."+tok, len(b.streams))
}

func (b *Blobs) subject(key string, chunk int) string {
	return fmt.Sprintf("blob.%s_%d.%s.%d", b.name, b.partition(key), key, chunk)
}

// Put stores r under key, refusing more than max bytes (Invalid, with
// whatever was written removed). A key holds one blob; putting it again
// replaces it.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader, max int64) (BlobInfo, error) {
	h := sha256.New()
	buf := make([]byte, BlobChunk)
	var size int64
	chunk := 0
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			size += int64(n)
			if size > max {
				_ = b.Delete(context.WithoutCancel(ctx), key)
				return BlobInfo{}, &starling.Error{Code: starling.Invalid, Message: fmt.Sprintf("File is too large (maximum is %d MB)", max>>20)}
			}
			h.Write(buf[:n])
			if _, perr := b.js.Publish(ctx, b.subject(key, chunk), buf[:n]); perr != nil {
				_ = b.Delete(context.WithoutCancel(ctx), key)
				return BlobInfo{}, mapErr(perr, key)
			}
			chunk++
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			_ = b.Delete(context.WithoutCancel(ctx), key)
			return BlobInfo{}, &starling.Error{Code: starling.Invalid, Message: "The upload was interrupted", Err: err}
		}
	}
	return BlobInfo{Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Delete removes every chunk of key.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	st := b.streams[b.partition(key)]
	prefix := b.subject(key, 0)
	prefix = prefix[:len(prefix)-1] + ">"
	return mapErr(st.Purge(ctx, jetstream.WithPurgeSubject(prefix)), key)
}

// chunk reads one chunk.
func (b *Blobs) chunk(ctx context.Context, key string, n int) ([]byte, error) {
	m, err := b.streams[b.partition(key)].GetLastMsgForSubject(ctx, b.subject(key, n))
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, &starling.Error{Code: starling.NotFound, Message: "Record not found", Err: fmt.Errorf("blob %s chunk %d", key, n)}
		}
		return nil, mapErr(err, key)
	}
	return m.Data, nil
}

// ReadAll reads a whole blob of size bytes.
func (b *Blobs) ReadAll(ctx context.Context, key string, size int64) ([]byte, error) {
	out := make([]byte, 0, size)
	for n := 0; int64(len(out)) < size; n++ {
		c, err := b.chunk(ctx, key, n)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

// Reader returns an io.ReadSeeker over a blob of size bytes that fetches
// only the chunks it reads. It is not safe for concurrent use.
func (b *Blobs) Reader(ctx context.Context, key string, size int64) io.ReadSeeker {
	return &blobReader{ctx: ctx, b: b, key: key, size: size, cur: -1}
}

type blobReader struct {
	ctx  context.Context
	b    *Blobs
	key  string
	size int64
	off  int64
	cur  int    // index of the cached chunk
	data []byte // the cached chunk
}

func (r *blobReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	idx := int(r.off / BlobChunk)
	if idx != r.cur {
		c, err := r.b.chunk(r.ctx, r.key, idx)
		if err != nil {
			return 0, err
		}
		r.cur, r.data = idx, c
	}
	within := int(r.off % BlobChunk)
	if within >= len(r.data) {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.data[within:])
	r.off += int64(n)
	return n, nil
}

func (r *blobReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.size
	default:
		return 0, errors.New("blob: bad whence " + strconv.Itoa(whence))
	}
	if offset < 0 {
		return 0, errors.New("blob: negative position")
	}
	r.off = offset
	return offset, nil
}

// Stream creates or updates a stream with this engine's replica count
// (unless cfg sets one), retrying while a cluster elects leaders.
func (e *Engine) Stream(ctx context.Context, cfg jetstream.StreamConfig) error {
	if cfg.Replicas == 0 {
		cfg.Replicas = e.cfg.Replicas
	}
	_, err := ensureStream(ctx, e.js, cfg)
	return err
}
