package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/media/imaging"
	"github.com/starling-social/starling/telemetry"
)

// startWorkers consumes MEDIA_JOBS through one durable consumer shared by
// every Media instance, so each job runs once somewhere. MaxAckPending
// bounds the jobs in flight cluster-wide; each instance runs at most
// workers at a time.
func (s *Service) startWorkers(ctx context.Context, workers int) error {
	cons, err := s.js.CreateOrUpdateConsumer(ctx, jobsStream, jetstream.ConsumerConfig{
		Durable:       "media-workers",
		Description:   "media processing and clean-up",
		FilterSubject: "media.jobs.>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       2 * time.Minute,
		MaxDeliver:    5,
		MaxAckPending: 4 * runtime.GOMAXPROCS(0),
	})
	if err != nil {
		return fmt.Errorf("media workers consumer: %w", err)
	}
	sem := make(chan struct{}, workers)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		sem <- struct{}{}
		s.wg.Add(1)
		go func() {
			defer func() { <-sem; s.wg.Done() }()
			s.runJob(ctx, m)
		}()
	}, jetstream.PullMaxMessages(workers))
	if err != nil {
		return fmt.Errorf("media workers: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			// The consumer's lag and redeliveries, from the start on.
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			if info, err := cons.Info(ictx); err == nil {
				s.tel.Metrics.ConsumerPend.WithLabelValues("media-workers").Set(float64(info.NumPending))
				s.tel.Metrics.ConsumerAckP.WithLabelValues("media-workers").Set(float64(info.NumAckPending))
				s.tel.Metrics.ConsumerRedel.WithLabelValues("media-workers").Set(float64(info.NumRedelivered))
			}
			cancel()
			select {
			case <-ctx.Done():
				cc.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// runJob runs one job and acknowledges it; a transient failure makes it
// come back (up to MaxDeliver), a permanent one is recorded on the media.
func (s *Service) runJob(ctx context.Context, m jetstream.Msg) {
	parts := strings.Split(m.Subject(), ".") // media.jobs.<kind>.<id>
	if len(parts) != 4 {
		_ = m.Term()
		return
	}
	id, err := starling.ParseID(parts[3])
	if err != nil {
		_ = m.Term()
		return
	}
	jctx, cancel := context.WithTimeout(telemetry.Extract(ctx, map[string][]string(m.Headers())), 90*time.Second)
	defer cancel()
	jctx, span := s.tel.Tracer.Start(jctx, "media.job "+parts[2])
	defer span.End()
	switch parts[2] {
	case "process":
		err = s.process(jctx, id)
	case "gc":
		err = s.collect(jctx, id)
	}
	if err != nil {
		s.log.WarnContext(jctx, "media job failed; will retry", "job", parts[2], "media", id, "err", err)
		s.tel.Metrics.MediaJobs.WithLabelValues("retry").Inc()
		_ = m.NakWithDelay(2 * time.Second)
		return
	}
	_ = m.Ack()
}

// process turns an upload into what is served.
func (s *Service) process(ctx context.Context, id starling.ID) error {
	r, err := s.fresh(ctx, id)
	if starling.IsCode(err, starling.NotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	if r.State != stateProcessing {
		return nil // done before: this is a redelivery
	}
	start := time.Now()
	outcome := "ok"
	switch imaging.Kind(r.Kind) {
	case imaging.KindImage:
		err = s.processImage(ctx, r)
	default:
		err = s.processAV(ctx, r)
	}
	var permanent *imaging.Error
	if errors.As(err, &permanent) {
		// The file is bad or hostile: keep nothing of it but the reason.
		outcome = "rejected"
		for _, v := range []string{"original", "small"} {
			_ = s.blobs.Delete(ctx, blobKey(id, v))
		}
		r.State, r.Error, r.Preview = stateFailed, permanent.Msg, nil
		err = s.store(ctx, r)
	} else if err == nil {
		r.State = stateReady
		err = s.store(ctx, r)
	}
	if err != nil {
		return err
	}
	s.tel.Metrics.MediaJobs.WithLabelValues(outcome).Inc()
	s.log.DebugContext(ctx, "media processed", "media", id, "kind", r.Kind, "outcome", outcome, "took", time.Since(start))
	_ = s.nc.Publish(doneSubject+"."+id.String(), nil)
	return nil
}

func (s *Service) processImage(ctx context.Context, r *record) error {
	data, err := s.blobs.ReadAll(ctx, blobKey(r.ID, "original"), r.Original.Size)
	if err != nil {
		return err
	}
	f, err := imaging.Detect(data)
	if err != nil {
		return err
	}
	lim := imaging.DefaultLimits()
	lim.MaxBytes, lim.MaxPixels = s.cfg.Limits.ImageBytes, s.cfg.Limits.ImagePixels
	var img *imaging.Image
	switch r.Purpose {
	case starling.MediaAvatar:
		img, err = imaging.ProcessProfileImage(data, f, lim, imaging.AvatarWidth, imaging.AvatarHeight)
	case starling.MediaHeader:
		img, err = imaging.ProcessProfileImage(data, f, lim, imaging.HeaderWidth, imaging.HeaderHeight)
	default:
		img, err = imaging.ProcessImage(data, f, lim)
	}
	if err != nil {
		return err
	}
	orig, err := s.blobs.Put(ctx, blobKey(r.ID, "original"), bytes.NewReader(img.Data), int64(len(img.Data))+1)
	if err != nil {
		return err
	}
	prev, err := s.blobs.Put(ctx, blobKey(r.ID, "small"), bytes.NewReader(img.Preview), int64(len(img.Preview))+1)
	if err != nil {
		return err
	}
	r.Original, r.MIME, r.Ext = orig, img.MIME, img.Ext
	r.Preview, r.PreviewMIME, r.PreviewExt = &prev, img.PreviewMIME, img.PreviewExt
	r.Width, r.Height, r.PreviewW, r.PreviewH = img.Width, img.Height, img.PreviewWidth, img.PreviewHeight
	r.Blurhash = img.Blurhash
	return nil
}

// processAV reads what it can of a video or audio file; the file itself is
// served as uploaded.
func (s *Service) processAV(ctx context.Context, r *record) error {
	head := r.Original.Size
	if head > 8<<20 {
		head = 8 << 20 // moov is usually near the start; ProbeAV copes with less
	}
	data, err := s.blobs.ReadAll(ctx, blobKey(r.ID, "original"), head)
	if err != nil {
		return err
	}
	f, err := imaging.Detect(data)
	if err != nil {
		return err
	}
	if av, err := imaging.ProbeAV(data, f); err == nil {
		r.Duration, r.Width, r.Height = av.Duration, av.Width, av.Height
		if int64(av.Width)*int64(av.Height) > s.cfg.Limits.VideoPixels {
			return &imaging.Error{Code: imaging.ErrTooManyPixels, Msg: "Video dimensions are too large"}
		}
	}
	return nil
}

// collect deletes media nobody attached within the time allowed.
func (s *Service) collect(ctx context.Context, id starling.ID) error {
	r, err := s.fresh(ctx, id)
	if starling.IsCode(err, starling.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status != 0 && r.State == stateReady {
		return nil
	}
	s.remove(ctx, r)
	s.tel.Metrics.MediaJobs.WithLabelValues("collected").Inc()
	return nil
}
