// Package datagen generates a large, synthetic but realistic data set and
// writes it straight into Starling's tables (the Auth and Feed importers),
// so that figures can be measured at a scale where memory and start-up
// time matter: a hundred thousand accounts and millions of follows and
// statuses in minutes, where signing them up and posting through the API
// would take hours.
//
// # The model
//
// Popularity is a power law: accounts are ranked by a random permutation
// and account of rank r is followed with weight 1/(r+1)^0.9, so a few
// accounts have tens of thousands of followers and most have a handful.
// Each account follows a log-normally distributed number of accounts (mean
// Follows/Accounts, at most 7,500 as Mastodon allows), 80% of them drawn by
// popularity and 20% uniformly. Activity is a power law too (rank by the
// same permutation, exponent 1.1): popular accounts post more. Statuses are
// spread evenly over the last Window (30 days) in time order; their text is
// drawn from a vocabulary with log-normal lengths (median about 90
// characters, at most 480); a fifth carry one to three hashtags from a
// Zipf-distributed set of 2,000; a quarter reply to a recent status (and
// mention its author), one in ten is a reblog of a recent public status;
// 85% are public, 9% unlisted, 5% followers-only and 1% direct (mentioning
// an account the author follows). Favourites go to public and unlisted
// statuses, the recent ones more often, from accounts drawn uniformly.
// Everything depends only on the seed.
package datagen

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/auth"
	"github.com/starling-social/starling/engine"
	"github.com/starling-social/starling/feed"
)

// Config sizes the data set.
type Config struct {
	Accounts   int
	Follows    int
	Statuses   int
	Favourites int
	Seed       uint64
	// Now ends the period the statuses are spread over (Window long).
	Now    time.Time
	Window time.Duration
	// PublicURL is the base of links in rendered statuses (the nodes'
	// public URL).
	PublicURL *url.URL
	// Password is every generated account's password (hashed once: the
	// accounts share a hash, which is fine for data that is not real).
	Password string
	// Progress, when set, is told what is being written.
	Progress func(format string, args ...any)
}

// User is a generated account and a token it can use.
type User struct {
	ID       starling.ID
	Username string
	Token    starling.Secret
}

// Result says what was generated.
type Result struct {
	Users                                   []User
	Follows, Statuses, Favourites, Reblogs  int
	Replies, Tagged                         int
	Records                                 int
	Took                                    time.Duration
	MaxFollowers, MaxFollowing, MaxStatuses int
}

// Generate writes the data set into the tables on eng. No node may write
// them meanwhile.
func Generate(ctx context.Context, eng *engine.Engine, cfg Config) (*Result, error) {
	start := time.Now()
	cfg.defaults()
	g := newGen(cfg)
	res := &Result{}
	if err := g.accounts(ctx, eng, res); err != nil {
		return nil, err
	}
	fi, err := feed.NewImporter(ctx, eng, cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if err := g.follows(ctx, fi, res); err != nil {
		return nil, err
	}
	if err := g.statuses(ctx, fi, res); err != nil {
		return nil, err
	}
	if err := g.favourites(ctx, fi, res); err != nil {
		return nil, err
	}
	if err := fi.Flush(ctx); err != nil {
		return nil, err
	}
	res.Records += fi.Written()
	res.Took = time.Since(start)
	return res, nil
}

func (c *Config) defaults() {
	if c.Now.IsZero() {
		c.Now = time.Now()
	}
	if c.Window == 0 {
		c.Window = 30 * 24 * time.Hour
	}
	if c.PublicURL == nil {
		c.PublicURL = &url.URL{Scheme: "http", Host: "localhost:8080"}
	}
	if c.Password == "" {
		c.Password = "generated password, not a real one"
	}
	if c.Progress == nil {
		c.Progress = func(string, ...any) {}
	}
	c.Accounts = max(c.Accounts, 2)
}

// gen holds the model's state.
type gen struct {
	cfg      Config
	r        *rand.Rand
	ids      []starling.ID // account i's ID
	names    []string
	pop      *zipf     // popularity: account index by weight
	act      *zipf     // activity
	followed [][]int32 // account i follows these
	lastID   starling.ID
	lastMs   int64
	seq      uint16
	vocab    []string
	tags     *zipf
	tagNames []string
	visible  []starling.ID // public and unlisted statuses (favourites go to them)
}

func newGen(cfg Config) *gen {
	r := rand.New(rand.NewPCG(cfg.Seed, 0xda7a))
	n := cfg.Accounts
	perm := r.Perm(n)
	g := &gen{cfg: cfg, r: r, pop: newZipf(perm, 0.9), act: newZipf(perm, 1.1), vocab: vocabulary}
	tagOrder := make([]int, 2000)
	for i := range tagOrder {
		tagOrder[i] = i
		g.tagNames = append(g.tagNames, fmt.Sprintf("%s%d", vocabulary[i%len(vocabulary)], i))
	}
	g.tags = newZipf(tagOrder, 1.0)
	return g
}

// id returns a fresh time-ordered ID at t (IDs must grow: t must not go
// back).
func (g *gen) id(t time.Time) starling.ID {
	ms := t.UnixMilli()
	if ms <= g.lastMs {
		ms = g.lastMs
		g.seq++
	} else {
		g.lastMs, g.seq = ms, 0
	}
	id := starling.MakeID(time.UnixMilli(ms), g.seq)
	if id <= g.lastID {
		id = g.lastID + 1
	}
	g.lastID = id
	return id
}

// accounts writes the accounts, an application and one token each.
func (g *gen) accounts(ctx context.Context, eng *engine.Engine, res *Result) error {
	n := g.cfg.Accounts
	g.cfg.Progress("accounts: %d", n)
	ai, err := auth.NewImporter(ctx, eng)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(starling.Secret(g.cfg.Password))
	if err != nil {
		return err
	}
	first := g.cfg.Now.Add(-g.cfg.Window - 48*time.Hour)
	if _, err := ai.App(ctx, g.id(first), "starling bench generate", starling.Scopes{"read", "write", "follow", "push"}, first); err != nil {
		return err
	}
	scopes := starling.Scopes{"read", "write", "follow", "push"}
	g.ids, g.names = make([]starling.ID, n), make([]string, n)
	res.Users = make([]User, n)
	for i := range n {
		at := first.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))
		g.ids[i], g.names[i] = g.id(at), fmt.Sprintf("gen%d", i)
		a := &starling.Account{ID: g.ids[i], Username: g.names[i], DisplayName: displayName(g.r, i), CreatedAt: at.UTC(),
			Privacy: starling.Public, Discoverable: true, Language: "en"}
		if err := ai.Account(ctx, a, g.names[i]+"@generated.invalid", hash); err != nil {
			return err
		}
		tok, err := ai.Token(ctx, g.ids[i], scopes, at)
		if err != nil {
			return err
		}
		res.Users[i] = User{ID: g.ids[i], Username: g.names[i], Token: tok}
	}
	if err := ai.Flush(ctx); err != nil {
		return err
	}
	res.Records += 4*n + n + 1
	return nil
}

// follows draws and writes the follow graph.
func (g *gen) follows(ctx context.Context, fi *feed.Importer, res *Result) error {
	n := g.cfg.Accounts
	mean := float64(g.cfg.Follows) / float64(n)
	g.followed = make([][]int32, n)
	followers := make([]int, n)
	at := g.cfg.Now.Add(-g.cfg.Window - 24*time.Hour)
	step := 24 * time.Hour / time.Duration(max(g.cfg.Follows, 1))
	g.cfg.Progress("follows: about %d", g.cfg.Follows)
	for v := range n {
		// Log-normal out-degree with the requested mean (sigma 1).
		d := int(math.Round(math.Exp(math.Log(mean)-0.5+g.r.NormFloat64()) + 0.5))
		d = min(max(d, 1), 7500, n-1)
		seen := make(map[int32]bool, d)
		for tries := 0; len(seen) < d && tries < 4*d; tries++ {
			var w int
			if g.r.Float64() < 0.8 {
				w = g.pop.draw(g.r)
			} else {
				w = g.r.IntN(n)
			}
			if w != v && !seen[int32(w)] {
				seen[int32(w)] = true
			}
		}
		out := make([]int32, 0, len(seen))
		for w := range seen {
			out = append(out, w)
		}
		slices.Sort(out)
		g.followed[v] = out
		for _, w := range out {
			at = at.Add(step)
			if err := fi.Follow(ctx, g.ids[v], g.ids[w], g.id(at), at); err != nil {
				return err
			}
			followers[w]++
			res.Follows++
		}
		res.MaxFollowing = max(res.MaxFollowing, len(out))
	}
	res.MaxFollowers = slices.Max(followers)
	return nil
}

// recent is a ring of recently generated statuses replies and reblogs
// pick from.
type recent struct {
	ids     []starling.ID
	authors []int
	public  []bool
	next    int
}

func (r *recent) add(id starling.ID, author int, public bool) {
	if len(r.ids) < cap(r.ids) {
		r.ids, r.authors, r.public = append(r.ids, id), append(r.authors, author), append(r.public, public)
		return
	}
	r.ids[r.next], r.authors[r.next], r.public[r.next] = id, author, public
	r.next = (r.next + 1) % cap(r.ids)
}

// statuses writes the statuses, in time order.
func (g *gen) statuses(ctx context.Context, fi *feed.Importer, res *Result) error {
	total := g.cfg.Statuses
	g.cfg.Progress("statuses: %d", total)
	start := g.cfg.Now.Add(-g.cfg.Window)
	rec := &recent{ids: make([]starling.ID, 0, 5000), authors: make([]int, 0, 5000), public: make([]bool, 0, 5000)}
	roots := map[starling.ID]starling.ID{}
	reblogged := map[[2]starling.ID]bool{}
	perAuthor := map[int]int{}
	for i := range total {
		at := start.Add(time.Duration(int64(g.cfg.Window) / int64(max(total, 1)) * int64(i)))
		a := g.act.draw(g.r)
		s := feed.ImportStatus{ID: g.id(at), Account: g.ids[a], Created: at, Visibility: g.visibility(), Language: "en"}
		x := g.r.Float64()
		switch {
		case x < 0.10 && len(rec.ids) > 0:
			k := g.r.IntN(len(rec.ids))
			if !rec.public[k] || rec.authors[k] == a || reblogged[[2]starling.ID{rec.ids[k], s.Account}] {
				s.Text = g.text(false)
				break
			}
			reblogged[[2]starling.ID{rec.ids[k], s.Account}] = true
			s.ReblogOf, s.ReblogOfAccount, s.Visibility = rec.ids[k], g.ids[rec.authors[k]], starling.Public
			if err := fi.Reblog(ctx, s.ReblogOf, s.Account, s.ID); err != nil {
				return err
			}
			res.Reblogs++
		case x < 0.35 && len(rec.ids) > 0:
			k := g.r.IntN(len(rec.ids))
			parent, pa := rec.ids[k], rec.authors[k]
			s.ReplyTo, s.ReplyToAccount = parent, g.ids[pa]
			s.Root = roots[parent]
			if s.Root == 0 {
				s.Root = parent
			}
			s.Mentions = []starling.Mention{{ID: g.ids[pa], Username: g.names[pa]}}
			s.Text = "@" + g.names[pa] + " " + g.text(g.r.Float64() < 0.2)
			roots[s.ID] = s.Root
			res.Replies++
		default:
			s.Text = g.text(g.r.Float64() < 0.2)
		}
		if s.Visibility == starling.Direct && len(s.Mentions) == 0 {
			if fs := g.followed[a]; len(fs) > 0 {
				m := int(fs[g.r.IntN(len(fs))])
				s.Mentions = []starling.Mention{{ID: g.ids[m], Username: g.names[m]}}
				s.Text = "@" + g.names[m] + " " + s.Text
			} else {
				s.Visibility = starling.Private
			}
		}
		if strings.Contains(s.Text, "#") {
			res.Tagged++
		}
		if err := fi.Status(ctx, s); err != nil {
			return err
		}
		if s.ReblogOf == 0 {
			rec.add(s.ID, a, s.Visibility == starling.Public)
			if s.Visibility == starling.Public || s.Visibility == starling.Unlisted {
				g.visible = append(g.visible, s.ID)
			}
		}
		perAuthor[a]++
		res.Statuses++
		if (i+1)%200_000 == 0 {
			g.cfg.Progress("statuses: %d of %d", i+1, total)
		}
	}
	for _, c := range perAuthor {
		res.MaxStatuses = max(res.MaxStatuses, c)
	}
	return nil
}

func (g *gen) visibility() starling.Visibility {
	switch x := g.r.Float64(); {
	case x < 0.85:
		return starling.Public
	case x < 0.94:
		return starling.Unlisted
	case x < 0.99:
		return starling.Private
	}
	return starling.Direct
}

// text draws a status text of log-normal length, with hashtags if tagged.
func (g *gen) text(tagged bool) string {
	n := int(math.Exp(math.Log(90) + 0.6*g.r.NormFloat64()))
	n = min(max(n, 5), 480)
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(g.vocab[g.r.IntN(len(g.vocab))])
	}
	if tagged {
		for range 1 + g.r.IntN(3) {
			b.WriteString(" #")
			b.WriteString(g.tagNames[g.tags.draw(g.r)])
		}
	}
	return b.String()
}

// favourites writes favourites of public and unlisted statuses, biased to
// recent ones, by accounts drawn uniformly.
func (g *gen) favourites(ctx context.Context, fi *feed.Importer, res *Result) error {
	want := g.cfg.Favourites
	if want == 0 || res.Statuses == 0 {
		return nil
	}
	g.cfg.Progress("favourites: %d", want)
	ids := g.visible
	done := map[[2]int]bool{}
	at := g.cfg.Now
	for i := 0; i < want && len(ids) > 0; i++ {
		// Recent statuses get more favourites: square the uniform draw
		// towards the end of the list.
		u := g.r.Float64()
		k := len(ids) - 1 - int(u*u*float64(len(ids)-1))
		a := g.r.IntN(g.cfg.Accounts)
		if done[[2]int{k, a}] {
			continue
		}
		done[[2]int{k, a}] = true
		at = at.Add(time.Millisecond)
		if err := fi.Favourite(ctx, ids[k], g.ids[a], g.id(at), at); err != nil {
			return err
		}
		res.Favourites++
	}
	return nil
}

// zipf draws indexes of items in proportion to 1/(rank+1)^s, where
// order[rank] is the item of each rank.
type zipf struct {
	order []int
	cum   []float64
}

func newZipf(order []int, s float64) *zipf {
	z := &zipf{order: order, cum: make([]float64, len(order))}
	total := 0.0
	for r := range order {
		total += 1 / math.Pow(float64(r+1), s)
		z.cum[r] = total
	}
	return z
}

func (z *zipf) draw(r *rand.Rand) int {
	x := r.Float64() * z.cum[len(z.cum)-1]
	return z.order[sort.SearchFloat64s(z.cum, x)]
}

func displayName(r *rand.Rand, i int) string {
	first := []string{"Alex", "Sam", "Robin", "Kim", "Jo", "Noor", "Ana", "Lee", "Mika", "Sasha", "Ren", "Ola"}
	last := []string{"Rivers", "Stone", "Park", "Ng", "Berg", "Silva", "Okafor", "Kowal", "Mori", "Haas", "Lund", "Reyes"}
	return first[r.IntN(len(first))] + " " + last[r.IntN(len(last))]
}

// vocabulary is what status texts are drawn from.
var vocabulary = strings.Fields(`the a to of and in is it you that for on was with he be this have are as at
but not they what all were we when your can said there use an each which she do how their if will up other
about out many then them these so some her would make like him into time has look two more write go see
number no way could people my than first water been call who oil its now find long down day did get come made
may part over new sound take only little work know place year live me back give most very after thing our just
name good sentence man think say great where help through much before line right too mean old any same tell
boy follow came want show also around form three small set put end does another well large must big even such
because turn here why ask went men read need land different home us move try kind hand picture again change off
play spell air away animal house point page letter mother answer found study still learn should world high
every near add food between own below country plant last school father keep tree never start city earth eye
light thought head under story saw left few while along might close something seem next hard open example
begin life always those both paper together got group often run important until children side feet car mile
night walk white sea began grow took river four carry state once book hear stop without second later miss idea
enough eat face watch far indian really almost let above girl sometimes mountain cut young talk soon list song
being leave family coffee garden train music photo morning weekend rain sunny today tonight friends`)
