package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Writes and reads that ride out a leader election.
//
// When a partition's leader dies, a write sent to it is never answered: the
// publish waits for its whole deadline (the gateway's 10 s) although a new
// leader is usually elected within 4–9 s. publish therefore sends each
// write with a short attempt timeout and resends it until the request's
// deadline — always with the same message ID, so that JetStream's
// duplicate detection (the table's Duplicates window) stores it at most
// once: a resend of a write that was in fact committed is answered with
// the original sequence, and a resend of one still being proposed is
// refused as a duplicate in flight and tried again. Reads (leader reads)
// are idempotent and are simply resent.
const (
	attemptTimeout = 2 * time.Second
	resendBackoff  = 150 * time.Millisecond
)

// resends reports whether this engine's tables resend: in a cluster
// (embedded or external), where leaders change. A single embedded server
// has no elections; there a timeout means overload, and a resend would
// only add to it (and each message ID costs memory for the duplicate
// window).
func (e *Engine) resends() bool { return e.srv == nil || e.cfg.ClusterListen != "" }

func newMsgID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "w" + hex.EncodeToString(b)
}

// retryable reports whether a failed publish or get may succeed when sent
// again: no answer (no leader yet, or a dead one), no responders, or the
// cluster saying it has no leader or that the same message is in flight.
func retryable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503 || apiErr.ErrorCode == 10158 // JSStreamDuplicateMessageConflict
	}
	return false
}

// publish sends msg, resending it with the same message ID while it may
// still succeed (see above). callerID is the message ID the caller set, if
// any: then a duplicate on the first attempt is the caller's business and
// reported as such, while a duplicate caused by a resend is not.
func (t *Table) publish(ctx context.Context, msg *nats.Msg, callerID string, opts []jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if !t.eng.resends() {
		return t.js.PublishMsg(ctx, msg, opts...)
	}
	if callerID == "" {
		if msg.Header == nil {
			msg.Header = nats.Header{}
		}
		msg.Header.Set(jetstream.MsgIDHeader, newMsgID())
	}
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		ack, err := t.js.PublishMsg(actx, msg, opts...)
		cancel()
		if err == nil {
			if ack.Duplicate && (callerID == "" || attempt > 1) {
				ack.Duplicate = false // our own earlier attempt stored it
			}
			return ack, nil
		}
		if err := t.beforeResend(ctx, err); err != nil {
			return nil, err
		}
	}
}

// get reads key from its partition's leader, asking again while the
// partition elects a leader.
func (t *Table) get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if !t.eng.resends() {
		return t.kv(key).Get(ctx, key)
	}
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		ent, err := t.kv(key).Get(actx, key)
		cancel()
		if err == nil {
			return ent, nil
		}
		if err := t.beforeResend(ctx, err); err != nil {
			return nil, err
		}
	}
}

// beforeResend follows an attempt that failed with err. It waits
// resendBackoff and returns nil when the attempt is to be sent again;
// otherwise it returns the error to give up with: err itself (not
// retryable, or no time left in ctx), or Unavailable while this node is in
// the minority.
func (t *Table) beforeResend(ctx context.Context, err error) error {
	if ctx.Err() != nil || !retryable(err) {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < resendBackoff {
		return err
	}
	if qerr := t.eng.quorumErr(); qerr != nil {
		return qerr
	}
	select {
	case <-ctx.Done():
		return err
	case <-time.After(resendBackoff):
		return nil
	}
}

// del writes key's delete marker (a KV delete: header KV-Operation: DEL),
// only at revision rev when rev > 0, resending like publish. It returns
// the marker's sequence.
func (t *Table) del(ctx context.Context, key string, rev uint64) (uint64, error) {
	msg := &nats.Msg{Subject: t.Subject(key), Header: nats.Header{}}
	msg.Header.Set("KV-Operation", "DEL")
	if rev > 0 {
		msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	}
	ack, err := t.publish(ctx, msg, "", nil)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}
