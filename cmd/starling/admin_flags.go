package main

import (
	"flag"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/node"
)

// adminFlags are `starling serve`'s flags for the admin API and cluster
// operations (docs/architecture.md, "Cluster").
type adminFlags struct {
	token        string
	balanceEvery time.Duration
	drainGrace   time.Duration
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.token, "admin-token", "", "bearer token of the admin API (/api/starling/v1/: status, drain); empty disables it. Prefer STARLING_ADMIN_TOKEN to keep it out of process listings")
	fs.DurationVar(&f.balanceEvery, "balance-leaders", 10*time.Second, "how often a clustered node hands stream leaderships beyond its fair share to other nodes (0 disables)")
	fs.DurationVar(&f.drainGrace, "drain-grace", 2*time.Second, "how long a draining clustered node keeps answering, unready, after moving its leaderships")
}

func (f *adminFlags) config() node.AdminConfig {
	c := node.AdminConfig{Token: starling.Secret(f.token), BalanceEvery: f.balanceEvery, DrainGrace: f.drainGrace}
	if f.balanceEvery == 0 {
		c.BalanceEvery = -1
	}
	if f.drainGrace <= 0 {
		c.DrainGrace = time.Millisecond
	}
	return c
}
