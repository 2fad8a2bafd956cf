package bench

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Graph is a follow graph over Users accounts numbered 0..Users-1.
type Graph struct {
	Spec    string   // how it was made: reed98, facebook, powerlaw:N, none:N
	Users   int      // number of accounts
	Follows []Follow // in a stable order: setup records progress by index
}

// Follow is one follow: account From follows account To.
type Follow struct{ From, To int32 }

// Datasets known by name, as paths below the datasets directory.
var datasets = map[string]string{
	"reed98":   "socfb-Reed98/socfb-Reed98.edges",
	"facebook": "ego-Facebook/facebook_combined.txt",
}

// LoadGraph builds the graph a spec names:
//
//	reed98       socfb-Reed98 (962 accounts, 18,812 friendships)
//	facebook     SNAP ego-Facebook (4,039 accounts, 88,234 friendships)
//	powerlaw:N   N accounts, power-law follower counts and a few very large
//	             accounts, generated from seed (deterministic)
//	none:N       N accounts that follow nobody
//
// Datasets are undirected: each friendship becomes two follows. dir is the
// datasets directory; "" searches upward from the working directory for
// shared/datasets.
func LoadGraph(spec, dir string, seed uint64) (*Graph, error) {
	name, arg, _ := strings.Cut(spec, ":")
	switch name {
	case "reed98", "facebook":
		if arg != "" {
			return nil, fmt.Errorf("graph %q takes no argument", name)
		}
		if dir == "" {
			var err error
			if dir, err = FindDatasets(""); err != nil {
				return nil, err
			}
		}
		g, err := readEdges(filepath.Join(dir, datasets[name]))
		if err != nil {
			return nil, err
		}
		g.Spec = name
		return g, nil
	case "powerlaw", "none":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("graph %q: want %s:N with N ≥ 1 accounts", spec, name)
		}
		g := &Graph{Spec: spec, Users: n}
		if name == "powerlaw" {
			g.Follows = powerLaw(n, seed)
		}
		return g, nil
	}
	return nil, fmt.Errorf("unknown graph %q (want reed98, facebook, powerlaw:N or none:N)", spec)
}

// FindDatasets looks for shared/datasets in start (the working directory if
// "") and each of its parents.
func FindDatasets(start string) (string, error) {
	if start == "" {
		var err error
		if start, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	for dir := start; ; {
		cand := filepath.Join(dir, "shared", "datasets")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no shared/datasets in %s or above it: pass --datasets", start)
		}
		dir = parent
	}
}

// readEdges reads an undirected edge list: "a b" per line, 0-indexed;
// blank lines and lines starting with # or % are skipped, as are self-loops
// and repeated edges.
func readEdges(path string) (*Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	g := &Graph{}
	seen := map[[2]int32]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' || text[0] == '%' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want two account numbers", path, line)
		}
		a, err1 := strconv.ParseInt(fields[0], 10, 32)
		b, err2 := strconv.ParseInt(fields[1], 10, 32)
		if err1 != nil || err2 != nil || a < 0 || b < 0 {
			return nil, fmt.Errorf("%s:%d: bad edge %q", path, line, text)
		}
		if a == b {
			continue
		}
		key := [2]int32{int32(min(a, b)), int32(max(a, b))}
		if seen[key] {
			continue
		}
		seen[key] = true
		g.Follows = append(g.Follows, Follow{int32(a), int32(b)}, Follow{int32(b), int32(a)})
		g.Users = max(g.Users, int(a)+1, int(b)+1)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if g.Users == 0 {
		return nil, errors.New(path + ": no edges")
	}
	return g, nil
}

// powerLaw generates n accounts' follows. A few very large accounts
// (account i < celebrities is followed by each other account with
// probability 0.9/√(i+1)) sit on top of a preferential-attachment graph
// (Barabási–Albert, m = 5): each account follows five earlier ones chosen in
// proportion to their degree, and a third of those follow back. The result
// depends only on n and seed.
func powerLaw(n int, seed uint64) []Follow {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var out []Follow
	seen := map[Follow]bool{}
	add := func(a, b int) {
		f := Follow{int32(a), int32(b)}
		if a != b && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	celebrities := min(max(n/100, 1), 10)
	for c := range celebrities {
		p := 0.9 / math.Sqrt(float64(c+1))
		for u := range n {
			if r.Float64() < p {
				add(u, c)
			}
		}
	}
	const m = 5
	var pool []int // each account once, plus once per follow it takes part in
	for v := range n {
		var picked []int
		if v <= m {
			for w := range v {
				picked = append(picked, w)
			}
		} else {
			for tries := 0; len(picked) < m && tries < 50*m; tries++ {
				w := pool[r.IntN(len(pool))]
				dup := false
				for _, p := range picked {
					dup = dup || p == w
				}
				if !dup {
					picked = append(picked, w)
				}
			}
		}
		for _, w := range picked {
			add(v, w)
			if r.IntN(3) == 0 {
				add(w, v)
			}
			pool = append(pool, w, v)
		}
		pool = append(pool, v)
	}
	return out
}

// Checksum identifies the graph's accounts and follows, so a state file is
// never resumed against a different graph.
func (g *Graph) Checksum() string {
	h := fnv.New64a()
	var b [8]byte
	put := func(v uint32) {
		b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		h.Write(b[:4])
	}
	put(uint32(g.Users))
	for _, f := range g.Follows {
		put(uint32(f.From))
		put(uint32(f.To))
	}
	return strconv.FormatUint(h.Sum64(), 16)
}
