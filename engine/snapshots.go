package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/starling-social/starling"
)

// Snapshots stores snapshots of derived state (the views' partitions) in a
// JetStream object store: one object per name, replaced whole, replicated
// like the tables. A snapshot says which stream positions it covers in its
// metadata, so a reader loads it and replays only what came after. Safe for
// concurrent use; concurrent writers of one name each write a whole object
// and the last one wins.
type Snapshots struct {
	os   jetstream.ObjectStore
	name string
}

// Snapshots creates (if needed) and returns the snapshot store name.
func (e *Engine) Snapshots(ctx context.Context, name string) (*Snapshots, error) {
	cfg := jetstream.ObjectStoreConfig{
		Bucket:      "snap_" + name,
		Description: "snapshots of the " + name + " views' partitions",
		Replicas:    e.cfg.Replicas,
		Storage:     jetstream.FileStorage,
		Compression: false, // snapshots are compressed by their writers
	}
	var os jetstream.ObjectStore
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		os, err = e.js.CreateOrUpdateObjectStore(ctx, cfg)
		if err == nil || ctx.Err() != nil {
			break
		}
		e.log.Debug("snapshot store not ready", "name", name, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot store %s: %w", name, err)
	}
	return &Snapshots{os: os, name: name}, nil
}

// Put stores data as the snapshot name with meta (small string pairs).
func (s *Snapshots) Put(ctx context.Context, name string, meta map[string]string, data []byte) error {
	_, err := s.os.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: meta}, bytes.NewReader(data))
	if err != nil {
		return mapErr(err, name)
	}
	return nil
}

// Get returns the snapshot name and its metadata. A missing snapshot is a
// NotFound error.
func (s *Snapshots) Get(ctx context.Context, name string) ([]byte, map[string]string, error) {
	r, err := s.os.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil, &starling.Error{Code: starling.NotFound, Message: "no snapshot", Err: err}
	}
	if err != nil {
		return nil, nil, mapErr(err, name)
	}
	defer r.Close()
	info, err := r.Info()
	if err != nil {
		return nil, nil, mapErr(err, name)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, mapErr(err, name)
	}
	return data, info.Metadata, nil
}

// Size returns the stored size of the snapshot name (0 when missing).
func (s *Snapshots) Size(ctx context.Context, name string) uint64 {
	info, err := s.os.GetInfo(ctx, name)
	if err != nil {
		return 0
	}
	return info.Size
}
