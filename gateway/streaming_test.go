package gateway

import (
	"context"
	"log/slog"
	"maps"
	"testing"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/telemetry"
)

// TestHubSubscribesOnlyToWhatSocketsNeed checks that a node holds a NATS
// subscription for a subject exactly while one of its connections needs it.
func TestHubSubscribesOnlyToWhatSocketsNeed(t *testing.T) {
	cfg := engine.DefaultConfig(t.TempDir())
	cfg.NodeName, cfg.Listen, cfg.Logger = "hub", "127.0.0.1:-1", slog.New(slog.DiscardHandler)
	eng, err := engine.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	s := &Server{tel: telemetry.Discard()}
	h := newHub(s, eng.Conn(), StreamingLimits{})
	s.hub = h
	sock := func(account starling.ID) *conn {
		c, _, err := h.open(&starling.Grant{AccountID: account, Scopes: starling.Scopes{"read"}}, account == 2)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	subjects := func() map[string]int {
		h.mu.Lock()
		defer h.mu.Unlock()
		out := map[string]int{}
		for subj, ls := range h.subs {
			out[subj] = len(ls.conns)
		}
		return out
	}
	a, b := sock(1), sock(2)
	a.subscribe(stream{name: "user"})
	a.subscribe(stream{name: "user:notification"}) // same subject, no second subscription
	a.subscribe(stream{name: "direct"})            // carries nothing yet: no subject
	b.subscribe(stream{name: "hashtag", tag: "Go"})
	b.subscribe(stream{name: "public"})
	b.subscribe(stream{name: "public:local:media"}) // the public subject again
	want := map[string]int{"starling.live.user.1": 1, "starling.live.tag.go": 1, "starling.live.public": 1}
	if got := subjects(); !maps.Equal(got, want) {
		t.Fatalf("subscriptions = %v, want %v", got, want)
	}
	a.unsubscribe(stream{name: "user"})
	if got := subjects(); got["starling.live.user.1"] != 1 {
		t.Fatalf("unsubscribing one of two streams on a subject dropped it: %v", got)
	}
	a.unsubscribe(stream{name: "user:notification"})
	b.unsubscribe(stream{name: "hashtag", tag: "Go"})
	b.unsubscribe(stream{name: "public"})
	if got := subjects(); got["starling.live.public"] != 1 {
		t.Fatalf("public subject dropped while public:local:media needs it: %v", got)
	}
	b.close(0, "")
	a.close(0, "")
	if got := subjects(); len(got) != 0 {
		t.Fatalf("subscriptions after every connection left = %v", got)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.conns) != 0 || len(h.perAccount) != 0 {
		t.Fatalf("connections left registered: %d, per account %v", len(h.conns), h.perAccount)
	}
}
