package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/telemetry"
)

// TableConfig describes a partitioned key-value table.
type TableConfig struct {
	// Name is the table's name; partition p is the KV bucket "<Name>_<p>".
	Name string
	// Partitions splits the table into that many streams (each its own
	// Raft group in a cluster). Zero uses the engine's partition count; 1
	// keeps a small table in one stream.
	Partitions int
	// History is how many revisions of each key are kept (default 1).
	History int
	// Direct lets any replica answer reads: faster, but a read may miss a
	// write acknowledged a moment ago. Tables whose reads must see every
	// acknowledged write (credentials, tokens) leave it false, so reads go
	// to the stream leader.
	Direct bool
	// Duplicates is the window in which a repeated message ID is ignored.
	Duplicates time.Duration
	// MaxValueSize caps each value in bytes (default 64 KiB).
	MaxValueSize int32
	// Memory keeps the table in memory (derived data that can be rebuilt).
	Memory bool
	// Replicas overrides the engine's replica count (derived data may use 1).
	Replicas int
	// PinLeaders leaves the placement of its streams' leaders to the
	// table's user (leases): leader balancing does not move them.
	PinLeaders bool
}

// Table is a key-value table split across partitions. Keys are dot-separated
// tokens "kind.pk[.more]"; the partition is FNV-1a of the second token (or of
// the only token) modulo the partition count, the same function NATS subject
// mapping uses, so any client can compute it. A Table is safe for concurrent
// use.
//
// Errors: reads of a missing or deleted key return a starling NotFound error;
// a failed compare-and-set returns Conflict; an engine that cannot commit
// (no quorum, timeout, disconnected) returns Unavailable.
type Table struct {
	eng     *Engine // for the quorum guard (cluster.go)
	tracer  trace.Tracer
	name    string
	parts   []jetstream.KeyValue
	stores  []jetstream.Stream
	streams []string
	js      jetstream.JetStream
}

// Entry is one key's value at one revision.
type Entry struct {
	Key      string
	Value    []byte
	Revision uint64
	Created  time.Time
}

// Table creates the table's streams if they are missing (or updates their
// configuration) and returns a handle on it.
func (e *Engine) Table(ctx context.Context, cfg TableConfig) (*Table, error) {
	n := cfg.Partitions
	if n == 0 {
		n = e.cfg.Partitions
	}
	replicas := cfg.Replicas
	if replicas == 0 {
		replicas = e.cfg.Replicas
	}
	history := int64(cfg.History)
	if history == 0 {
		history = 1
	}
	maxVal := cfg.MaxValueSize
	if maxVal == 0 {
		maxVal = 64 << 10
	}
	dup := cfg.Duplicates
	if dup == 0 {
		dup = 2 * time.Minute
	}
	storage := jetstream.FileStorage
	if cfg.Memory {
		storage = jetstream.MemoryStorage
	}
	t := &Table{name: cfg.Name, js: e.js, tracer: e.tracer, eng: e}
	for p := 0; p < n; p++ {
		bucket := fmt.Sprintf("%s_%d", cfg.Name, p)
		sc := jetstream.StreamConfig{
			Name:              "KV_" + bucket,
			Subjects:          []string{"$KV." + bucket + ".>"},
			MaxMsgsPerSubject: history,
			MaxMsgs:           -1,
			MaxBytes:          -1,
			MaxMsgSize:        maxVal,
			MaxConsumers:      -1,
			Storage:           storage,
			Replicas:          replicas,
			Discard:           jetstream.DiscardNew,
			AllowRollup:       true,
			DenyDelete:        true,
			AllowDirect:       cfg.Direct,
			Duplicates:        dup,
			AllowMsgTTL:       true,
		}
		st, err := ensureStream(ctx, e.js, sc) // cluster_streams.go
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", bucket, err)
		}
		kv, err := e.js.KeyValue(ctx, bucket)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", bucket, err)
		}
		t.parts = append(t.parts, kv)
		t.stores = append(t.stores, st)
		t.streams = append(t.streams, sc.Name)
		if cfg.PinLeaders {
			e.pin(sc.Name)
		}
	}
	return t, nil
}

// Name returns the table's name.
func (t *Table) Name() string { return t.name }

// Partitions returns the number of partitions.
func (t *Table) Partitions() int { return len(t.parts) }

// Stream returns the name of partition p's stream.
func (t *Table) Stream(p int) string { return t.streams[p] }

// Streams returns the names of all partition streams, in partition order.
func (t *Table) Streams() []string { return append([]string(nil), t.streams...) }

// Leader returns the name of the server leading partition p's stream (""
// when it has none, or outside a cluster).
func (t *Table) Leader(ctx context.Context, p int) (string, error) {
	info, err := t.stores[p].Info(ctx)
	if err != nil {
		return "", mapErr(err, t.streams[p])
	}
	if info.Cluster == nil {
		return "", nil
	}
	return info.Cluster.Leader, nil
}

// KeyOf returns the key a stream message subject carries ("$KV.<bucket>.<key>").
func KeyOf(subject string) string {
	// $KV.bucket.key...
	if i := strings.IndexByte(subject, '.'); i >= 0 {
		rest := subject[i+1:]
		if j := strings.IndexByte(rest, '.'); j >= 0 {
			return rest[j+1:]
		}
	}
	return ""
}

// Partition returns the partition that holds key.
func (t *Table) Partition(key string) int { return Partition(key, len(t.parts)) }

// Partition returns the partition of key among n: FNV-1a 32 of the key's
// second dot-separated token (or of the whole key if it has one token),
// starling.PartitionOfToken.
func Partition(key string, n int) int {
	tok := key
	if i := strings.IndexByte(key, '.'); i >= 0 {
		tok = key[i+1:]
		if j := strings.IndexByte(tok, '.'); j >= 0 {
			tok = tok[:j]
		}
	}
	return starling.PartitionOfToken(tok, n)
}

func (t *Table) kv(key string) jetstream.KeyValue { return t.parts[t.Partition(key)] }

// Subject returns the stream subject that stores key.
func (t *Table) Subject(key string) string {
	return fmt.Sprintf("$KV.%s_%d.%s", t.name, t.Partition(key), key)
}

// Get returns the newest revision of key.
func (t *Table) Get(ctx context.Context, key string) (Entry, error) {
	ctx, span := t.span(ctx, "get", key)
	defer span.End()
	if err := t.eng.quorumErr(); err != nil {
		return Entry{}, err
	}
	ent, err := t.get(ctx, key) // cluster_publish.go
	if err != nil {
		return Entry{}, mapErr(err, key)
	}
	return Entry{Key: key, Value: ent.Value(), Revision: ent.Revision(), Created: ent.Created()}, nil
}

// Put stores value under key unconditionally and returns its revision.
func (t *Table) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, _, err := t.PutWith(ctx, key, value, PutOptions{})
	return rev, err
}

// Create stores value under key only if the key does not exist (or was
// deleted). A live key yields Conflict. A positive ttl makes the key expire.
func (t *Table) Create(ctx context.Context, key string, value []byte, ttl time.Duration) (uint64, error) {
	zero := uint64(0)
	rev, _, err := t.PutWith(ctx, key, value, PutOptions{TTL: ttl, ExpectRevision: &zero})
	if err == nil || !starling.IsCode(err, starling.Conflict) {
		return rev, err
	}
	// A deleted key keeps a delete marker: create over it at its revision.
	st := t.stores[t.Partition(key)]
	m, gerr := st.GetLastMsgForSubject(ctx, t.Subject(key))
	if gerr == nil && m.Header.Get("KV-Operation") != "" {
		r := m.Sequence
		rev, _, err = t.PutWith(ctx, key, value, PutOptions{TTL: ttl, ExpectRevision: &r})
	}
	return rev, err
}

// Update stores value under key only if the key's newest revision is rev.
// Any other revision yields Conflict.
func (t *Table) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	nrev, _, err := t.PutWith(ctx, key, value, PutOptions{ExpectRevision: &rev})
	return nrev, err
}

// PutOptions are the rarely needed knobs of PutWith.
type PutOptions struct {
	// MsgID deduplicates retries: a second put with the same ID within the
	// table's duplicate window is not stored again.
	MsgID string
	// TTL makes the key expire.
	TTL time.Duration
	// ExpectRevision, when non-nil, makes the put conditional: 0 means the
	// key must not exist.
	ExpectRevision *uint64
}

// PutWith stores value under key with options and reports whether the engine
// recognised the message ID as a duplicate (nothing was stored then, and the
// revision is the original's).
func (t *Table) PutWith(ctx context.Context, key string, value []byte, o PutOptions) (rev uint64, dup bool, err error) {
	ctx, span := t.span(ctx, "put", key)
	defer span.End()
	if err := t.eng.quorumErr(); err != nil {
		return 0, false, err
	}
	var opts []jetstream.PublishOpt
	if o.MsgID != "" {
		opts = append(opts, jetstream.WithMsgID(o.MsgID))
	}
	if o.TTL > 0 {
		opts = append(opts, jetstream.WithMsgTTL(o.TTL))
	}
	if o.ExpectRevision != nil {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(*o.ExpectRevision))
	}
	msg := &nats.Msg{Subject: t.Subject(key), Data: value}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		// Consumers of the stream (fan-out, notifications) link their
		// work to the trace that wrote the record.
		msg.Header = nats.Header{}
		telemetry.Inject(ctx, map[string][]string(msg.Header))
	}
	ack, err := t.publish(ctx, msg, o.MsgID, opts) // cluster_publish.go
	if err != nil {
		err = mapErr(err, key)
		telemetry.SpanError(span, err)
		return 0, false, err
	}
	return ack.Sequence, ack.Duplicate, nil
}

// Delete removes key. With rev > 0 it only deletes that revision (Conflict
// otherwise). Deleting a missing key is not an error.
func (t *Table) Delete(ctx context.Context, key string, rev uint64) error {
	_, err := t.DeleteAt(ctx, key, rev)
	return err
}

// DeleteAt is Delete returning the revision of the deletion (the delete
// marker's stream sequence), for readers that wait until they see it.
func (t *Table) DeleteAt(ctx context.Context, key string, rev uint64) (uint64, error) {
	ctx, span := t.span(ctx, "delete", key)
	defer span.End()
	if err := t.eng.quorumErr(); err != nil {
		return 0, err
	}
	seq, err := t.del(ctx, key, rev) // cluster_publish.go
	return seq, mapErr(err, key)
}

// Purge removes key and all its revisions (a delete marker remains for
// watchers).
func (t *Table) Purge(ctx context.Context, key string) error {
	if err := t.eng.quorumErr(); err != nil {
		return err
	}
	return mapErr(t.kv(key).Purge(ctx, key), key)
}

// Keys lists the keys matching filter (a subject filter such as
// "follow.123.*") in the partition that holds filter's partition token. It
// is meant for bounded, per-entity listings, never for whole tables.
func (t *Table) Keys(ctx context.Context, filter string) ([]string, error) {
	lister, err := t.kv(filter).ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, mapErr(err, filter)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

// span starts a client span for one engine operation on key.
func (t *Table) span(ctx context.Context, op, key string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "engine."+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("db.system", "nats-jetstream"), attribute.String("db.operation", op),
		attribute.String("starling.table", t.name), attribute.Int("starling.partition", t.Partition(key))))
}

// mapErr turns engine errors into starling errors with codes.
func mapErr(err error, key string) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return &starling.Error{Code: starling.NotFound, Message: "Record not found", Err: err}
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch), isWrongLastSeq(err):
		return &starling.Error{Code: starling.Conflict, Message: "Conflict during update, please try again", Err: err}
	case errors.Is(err, jetstream.ErrInvalidKey):
		return &starling.Error{Code: starling.Invalid, Message: "invalid key", Err: fmt.Errorf("key %q: %w", key, err)}
	}
	return &starling.Error{Code: starling.Unavailable, Message: "Storage temporarily unavailable", RetryAfter: 2 * time.Second, Err: err}
}

func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// PurgeSubjects removes every message whose key matches filter (a subject
// filter over keys, e.g. "notif.123.>") from the partition of filter's
// partition token. Purged keys vanish without delete markers: readers that
// follow the stream must learn of the purge another way.
func (t *Table) PurgeSubjects(ctx context.Context, filter string) error {
	st := t.stores[t.Partition(filter)]
	return mapErr(st.Purge(ctx, jetstream.WithPurgeSubject(t.Subject(filter))), filter)
}
