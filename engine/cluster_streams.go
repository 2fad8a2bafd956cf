package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream makes the stream exist with configuration sc, creating it or
// updating it only when it is missing or differs, and retrying while a
// cluster elects its leaders. It returns the stream as it answered.
//
// Why not CreateOrUpdateStream: when several nodes of a cluster start at
// once they create the same streams at the same moment, and with
// nats-server 2.15.2 concurrent identical creates of one stream are
// answered to none of the requesters (each waits for its full timeout, 5 s
// per stream, about 40 s for a node's tables; see
// TestClusterConcurrentTableCreation). The stream is created nonetheless,
// so ensureStream sends the create with a short timeout and then looks for
// the stream. Restarts, where every stream exists, cost one stream info
// request per stream and no Raft proposal.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) (jetstream.Stream, error) {
	var last error
	updated := false
	for attempt := 0; attempt < 120; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			case <-time.After(100 * time.Millisecond):
			}
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err := js.Stream(ictx, sc.Name)
		cancel()
		switch {
		case err == nil:
			if updated || sameStreamConfig(s.CachedInfo().Config, sc) {
				return s, nil
			}
			uctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = js.UpdateStream(uctx, sc)
			cancel()
			if err == nil {
				updated = true
				continue // until the stream answers with it
			}
			last = err
			if isConfigError(err) {
				return nil, err
			}
			continue
		case !errors.Is(err, jetstream.ErrStreamNotFound):
			last = err // no meta leader yet, or the stream's leader is moving
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err = js.CreateStream(cctx, sc)
		cancel()
		if err == nil {
			continue // until the stream answers
		}
		last = err
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			continue // created concurrently, maybe differently: compare
		}
		if isConfigError(err) {
			return nil, err
		}
		// A timeout: the create may well have succeeded; wait for the
		// stream to answer before proposing it again.
		for i := 0; i < 30; i++ {
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := js.Stream(ictx, sc.Name)
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil, last
}

// isConfigError reports an error that retrying will not fix. "No suitable
// peers for placement" (10005) is not one: right after a cluster forms, the
// meta leader may not yet know every server.
func isConfigError(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 400 && apiErr.ErrorCode != jetstream.JSErrCodeStreamNameInUse &&
		apiErr.ErrorCode != 10005
}

// sameStreamConfig reports whether the existing configuration already has
// every setting want asks for (the server fills in defaults for settings
// left zero, which do not count as differences).
func sameStreamConfig(have jetstream.StreamConfig, want jetstream.StreamConfig) bool {
	if !slices.Equal(have.Subjects, want.Subjects) || have.Storage != want.Storage || have.Discard != want.Discard ||
		have.Retention != want.Retention || have.AllowRollup != want.AllowRollup || have.DenyDelete != want.DenyDelete ||
		have.AllowDirect != want.AllowDirect || have.AllowMsgTTL != want.AllowMsgTTL ||
		have.AllowMsgSchedules != want.AllowMsgSchedules || have.Description != want.Description {
		return false
	}
	replicas := max(want.Replicas, 1)
	if have.Replicas != replicas {
		return false
	}
	if want.MaxMsgsPerSubject != 0 && have.MaxMsgsPerSubject != want.MaxMsgsPerSubject {
		return false
	}
	if want.MaxMsgSize != 0 && have.MaxMsgSize != want.MaxMsgSize {
		return false
	}
	if want.MaxAge != 0 && have.MaxAge != want.MaxAge {
		return false
	}
	if want.Duplicates != 0 && have.Duplicates != want.Duplicates {
		return false
	}
	if want.MaxMsgs != 0 && have.MaxMsgs != want.MaxMsgs {
		return false
	}
	if want.MaxBytes != 0 && have.MaxBytes != want.MaxBytes {
		return false
	}
	if want.MaxConsumers != 0 && have.MaxConsumers != want.MaxConsumers {
		return false
	}
	return true
}
