package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// mediaRun uploads generated JPEGs. The body of every upload is the same
// shared bytes around a small segment that makes each file distinct (so no
// server can deduplicate them), streamed without copying.
type mediaRun struct {
	size       int           // bytes of each JPEG
	head, rest []byte        // multipart prefix and SOI marker; the rest of the JPEG and the multipart suffix
	headers    []http.Header // per user: Authorization and the multipart Content-Type
	seq        atomic.Int64
	nonce      uint64 // random per run: files differ across runs too
	poll, wait time.Duration
}

// uniqLen is the size of the per-upload comment segment.
const uniqLen = 4 + 16

func newMediaRun(r *runner) (*mediaRun, error) {
	size := r.cfg.MediaSize
	if size == 0 {
		size = defaultMediaSize
	}
	img, err := makeJPEG(size-uniqLen, r.cfg.Seed)
	if err != nil {
		return nil, err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	boundary := "starlingbench" + hex.EncodeToString(b[:])
	head := []byte("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bench.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n")
	m := &mediaRun{size: size, head: append(head, img[:2]...), rest: append(img[2:], "\r\n--"+boundary+"--\r\n"...),
		poll: r.cfg.MediaPoll, wait: r.cfg.MediaWait, nonce: binary.LittleEndian.Uint64(b[:8])}
	if m.poll <= 0 {
		m.poll = 50 * time.Millisecond
	}
	if m.wait <= 0 {
		m.wait = 30 * time.Second
	}
	ctype := []string{"multipart/form-data; boundary=" + boundary}
	for i := range r.users {
		m.headers = append(m.headers, http.Header{"Authorization": r.users[i].get["Authorization"], "Content-Type": ctype})
	}
	return m, nil
}

// do uploads one file and waits until the server has processed it. The
// upload's own latency goes to media.upload; the wait for processing (from
// the upload's answer to a 200 from GET /api/v1/media/:id) to
// media.processing, which also counts every poll's status; the caller
// records the whole, from the intended send time, as media.
func (m *mediaRun) do(ctx context.Context, r *runner, w *worker, j job) int {
	u := &r.users[j.user]
	t := &r.targets[u.target]
	measured := j.at >= r.warmup
	uniq := make([]byte, uniqLen)
	copy(uniq, []byte{0xFF, 0xFE, 0, uniqLen - 2})
	copy(uniq[4:], fmt.Sprintf("%016x", m.nonce+uint64(m.seq.Add(1))))
	n := int64(len(m.head) + len(uniq) + len(m.rest))
	body := func() io.Reader {
		return io.MultiReader(bytes.NewReader(m.head), bytes.NewReader(uniq), bytes.NewReader(m.rest))
	}
	req := new(http.Request)
	*req = *r.base
	req.Method, req.URL, req.Host, req.Header = http.MethodPost, t.upload, t.upload.Host, m.headers[j.user]
	req.ContentLength, req.Body = n, io.NopCloser(body())
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body()), nil }
	sent := time.Now()
	code, data := r.do(req, &w.buf)
	uploaded := time.Now()
	r.stats[opMediaUpload].record(w.id, measured, code, uploaded.Sub(sent))
	if code != http.StatusOK && code != http.StatusAccepted {
		return code
	}
	var att struct {
		ID  string  `json:"id"`
		URL *string `json:"url"`
	}
	if err := decodeJSON(data, &att); err != nil || att.ID == "" {
		return statusInvalid // not a media attachment
	}
	proc := r.stats[opMediaProcessing]
	if code == http.StatusOK && att.URL != nil && *att.URL != "" {
		proc.record(w.id, measured, http.StatusOK, 0) // processed during the upload
		return http.StatusOK
	}
	pollURL, err := url.Parse(t.base + "/api/v1/media/" + url.PathEscape(att.ID))
	if err != nil {
		return statusInvalid
	}
	deadline := uploaded.Add(m.wait)
	timer := time.NewTimer(m.poll)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return statusCanceled
		case <-timer.C:
		}
		code := r.send(http.MethodGet, pollURL, u.get, nil)
		if code == http.StatusOK {
			proc.record(w.id, measured, code, time.Since(uploaded))
			return code
		}
		proc.count(measured, code)
		if code != http.StatusPartialContent {
			return code
		}
		if time.Now().After(deadline) {
			return statusTimeout
		}
		timer.Reset(m.poll)
	}
}

// makeJPEG returns a valid JPEG of exactly size bytes: random noise (which
// compresses badly, so the pixel count sets the size) padded to the byte
// with comment segments.
func makeJPEG(size int, seed uint64) ([]byte, error) {
	const minSize = 2048
	if size < minSize {
		return nil, fmt.Errorf("media size %d is too small: at least %d bytes", size+uniqLen, minSize+uniqLen)
	}
	r := mrand.New(mrand.NewPCG(seed, 3))
	side := int(math.Sqrt(float64(size) / 2))
	var out bytes.Buffer
	for range 20 {
		img := image.NewRGBA(image.Rect(0, 0, side, side))
		for i := range img.Pix {
			img.Pix[i] = byte(r.Uint32())
		}
		out.Reset()
		if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 90}); err != nil {
			return nil, err
		}
		if out.Len() <= size-4 || side < 8 {
			break
		}
		side = int(float64(side) * math.Sqrt(float64(size)/float64(out.Len())) * 0.97)
	}
	return padJPEG(out.Bytes(), size)
}

// padJPEG pads a JPEG to exactly size bytes with comment segments after its
// SOI marker.
func padJPEG(enc []byte, size int) ([]byte, error) {
	pad := size - len(enc)
	if pad < 0 || (pad > 0 && pad < 4) {
		return nil, errors.New("could not make a JPEG of that size")
	}
	b := make([]byte, 0, size)
	b = append(b, enc[:2]...) // SOI
	for pad > 0 {
		n := min(pad, 4+65533) // marker, length, at most 65533 bytes of comment
		if rest := pad - n; rest > 0 && rest < 4 {
			n -= 4 // leave room for one more segment
		}
		b = append(b, 0xFF, 0xFE, byte((n-2)>>8), byte(n-2))
		for i := range n - 4 {
			b = append(b, 'a'+byte(i%26))
		}
		pad -= n
	}
	return append(b, enc[2:]...), nil
}
