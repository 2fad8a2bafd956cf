package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/starling-social/starling/feed"
)

// subjectRebuild asks every Feed instance to rebuild its derived data.
const subjectRebuild = "starling.admin.rebuild"

// RebuildReport is one instance's answer to a rebuild.
type RebuildReport struct {
	Node    string  `json:"node"`
	Service string  `json:"service"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// serveRebuild makes this node's Feed instance answer rebuild requests.
func (n *Node) serveRebuild(svc *feed.Service) error {
	sub, err := n.eng.Conn().Subscribe(subjectRebuild, func(m *nats.Msg) {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			took, err := svc.Rebuild(ctx)
			rep := RebuildReport{Node: n.eng.NodeName(), Service: "feed", Seconds: took.Seconds()}
			if err != nil {
				rep.Error = err.Error()
			}
			b, _ := json.Marshal(rep)
			_ = m.Respond(b)
		}()
	})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, func() { _ = sub.Unsubscribe() })
	return nil
}

// Rebuild asks every Feed instance reachable through nc to rebuild its
// derived data (home timelines, counters, lists) from the source of truth,
// and waits for all of them. Instances keep serving from their old view
// until the new one is ready.
func Rebuild(ctx context.Context, nc *nats.Conn) ([]RebuildReport, error) {
	// How many instances are there? Ask micro's discovery.
	inbox := nc.NewRespInbox()
	pings, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer pings.Unsubscribe()
	if err := nc.PublishRequest("$SRV.PING.starling-feed", inbox, nil); err != nil {
		return nil, err
	}
	instances := 0
	for {
		if _, err := pings.NextMsg(500 * time.Millisecond); err != nil {
			break
		}
		instances++
	}
	if instances == 0 {
		return nil, fmt.Errorf("no feed instance answers")
	}
	replies := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(replies)
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := nc.PublishRequest(subjectRebuild, replies, nil); err != nil {
		return nil, err
	}
	var out []RebuildReport
	for len(out) < instances {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return out, fmt.Errorf("%d of %d feed instances answered: %w", len(out), instances, err)
		}
		var r RebuildReport
		if err := json.Unmarshal(m.Data, &r); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
