package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/node"
)

// adminClientFlags are the flags of the commands that talk to a node's
// admin API.
type adminClientFlags struct {
	url, token string
	timeout    time.Duration
}

func (f *adminClientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "http://127.0.0.1:8080", "base URL of the node to ask")
	fs.StringVar(&f.token, "admin-token", "", "the node's admin token (prefer STARLING_ADMIN_TOKEN)")
	fs.DurationVar(&f.timeout, "timeout", 90*time.Second, "how long to wait")
}

func (f *adminClientFlags) admin() (cluster.Admin, error) {
	if f.token == "" {
		return cluster.Admin{}, errors.New("an admin token is required (--admin-token or STARLING_ADMIN_TOKEN)")
	}
	return cluster.Admin{URL: f.url, Token: f.token}, nil
}

// runStatus prints the cluster's status as one node sees it.
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("starling status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f adminClientFlags
	f.register(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON")
	all := fs.Bool("all", false, "also list every stream and consumer, not only the table partitions")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	a, err := f.admin()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	s, err := a.Status(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	}
	printStatus(stdout, s, *all)
	return nil
}

func printStatus(w io.Writer, s *node.Status, all bool) {
	fmt.Fprintf(w, "cluster as seen by %s at %s: %d servers, meta leader %s, replicas %d, partitions %d",
		s.Node, s.Time.Format(time.RFC3339), s.Cluster.Size, orDash(s.Cluster.MetaLeader), s.Cluster.Replicas, s.Cluster.Partitions)
	if s.Cluster.Minority {
		fmt.Fprint(w, "  ** THIS NODE IS CUT OFF FROM THE MAJORITY **")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATE\tURL\tSERVICES\tLEADS\tLAST SEEN\tNOTE")
	for _, n := range s.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s ago\t%s\n", n.Name, n.State, n.URL, strings.Join(n.Services, ","),
			s.Leaders[n.Server], time.Since(n.LastSeen).Round(100*time.Millisecond), n.Error)
	}
	tw.Flush()
	printViews(w, s)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STREAM\tTABLE/PART\tLEADER\tREPLICAS (current, lag, last seen)\tMSGS")
	for _, st := range s.Streams {
		if !all && st.Partition < 0 {
			continue
		}
		var reps []string
		for _, r := range st.Replicas {
			switch {
			case r.Leader:
				reps = append(reps, r.Name+"*")
			case r.Offline:
				reps = append(reps, fmt.Sprintf("%s(offline)", r.Name))
			default:
				cur := "current"
				if !r.Current {
					cur = "behind"
				}
				reps = append(reps, fmt.Sprintf("%s(%s,lag %d,%dms)", r.Name, cur, r.Lag, r.ActiveMs))
			}
		}
		part := "-"
		if st.Partition >= 0 {
			part = fmt.Sprintf("%s/%d", st.Table, st.Partition)
		}
		leader := orDash(st.Leader)
		if st.Error != "" {
			leader = "? (" + st.Error + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", st.Stream, part, leader, strings.Join(reps, " "), st.Messages)
	}
	tw.Flush()
	if all && len(s.Consumers) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CONSUMER\tLEADER\tREPLICAS\tPENDING")
		for _, c := range s.Consumers {
			var reps []string
			for _, r := range c.Replicas {
				reps = append(reps, r.Name)
			}
			fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%d\n", c.Stream, c.Name, orDash(c.Leader), strings.Join(reps, " "), c.Pending)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	var names []string
	for k := range s.Leaders {
		names = append(names, k)
	}
	sort.Strings(names)
	var lead []string
	for _, k := range names {
		lead = append(lead, fmt.Sprintf("%s=%d", k, s.Leaders[k]))
	}
	fmt.Fprintf(w, "stream leaders: %s; max replica lag %d; unhealthy streams: %d\n", strings.Join(lead, " "), s.MaxLag, len(s.Unhealthy))
	if s.StreamsErr != "" {
		fmt.Fprintf(w, "stream listing error: %s\n", s.StreamsErr)
	}
}

// printViews lists, per node and service, the view partitions it owns
// (with their sizes) and stands by for, and any partition nobody owns.
func printViews(w io.Writer, s *node.Status) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tVIEW\tOWNS\tSTANDS BY FOR\tVIEW SIZE")
	owned := map[string]map[int]bool{}
	for _, n := range s.Nodes {
		services := make([]string, 0, len(n.Views))
		for svc := range n.Views {
			services = append(services, svc)
		}
		sort.Strings(services)
		for _, svc := range services {
			if owned[svc] == nil {
				owned[svc] = map[int]bool{}
			}
			var own, stand []string
			var bytes int64
			for _, h := range n.Views[svc] {
				if h.Role == "owner" {
					own = append(own, fmt.Sprint(h.Partition))
					owned[svc][h.Partition] = true
					bytes += h.Bytes
				} else {
					stand = append(stand, fmt.Sprint(h.Partition))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1f MiB\n", n.Name, svc, orDash(strings.Join(own, ",")), orDash(strings.Join(stand, ",")), float64(bytes)/(1<<20))
		}
	}
	tw.Flush()
	for svc, parts := range owned {
		var missing []string
		for p := 0; p < s.Cluster.Partitions; p++ {
			if !parts[p] {
				missing = append(missing, fmt.Sprint(p))
			}
		}
		if len(missing) > 0 {
			fmt.Fprintf(w, "** %s partitions with no owner: %s **\n", svc, strings.Join(missing, ","))
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runNode runs `starling node <subcommand>`.
func runNode(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "drain" {
		fmt.Fprint(stderr, "Usage: starling node drain --url URL [--admin-token T]\n")
		return errors.New("unknown node command (want: drain)")
	}
	fs := flag.NewFlagSet("starling node drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f adminClientFlags
	f.register(fs)
	if err := parseFlags(fs, args[1:], getenv); err != nil {
		return err
	}
	a, err := f.admin()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	start := time.Now()
	r, err := a.Drain(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d leaderships moved in %v", r.Node, r.Moved, time.Since(start).Round(time.Millisecond))
	if r.Remaining > 0 {
		fmt.Fprintf(stdout, ", %d still held (%s)", r.Remaining, r.Error)
	}
	fmt.Fprintln(stdout, "; stopping ...")
	if err := a.WaitGone(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s stopped after %v\n", r.Node, time.Since(start).Round(time.Millisecond))
	return nil
}
