package gateway

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/starling-social/starling"
)

// renderer writes Status and Account entities as JSON by appending to a
// byte slice. The parts of an entity that only change with its revision
// (content, mentions, media, a profile) are rendered once and cached; the
// parts that change all the time (counters, viewer flags) are appended per
// response. It is the hot path of every timeline. Safe for concurrent use.
type renderer struct {
	base     string
	statuses *fragmentCache
	accounts *fragmentCache
}

func newRenderer(base string) *renderer {
	return &renderer{base: base, statuses: newFragmentCache(200_000), accounts: newFragmentCache(100_000)}
}

// fragmentCache maps (id, version) to rendered bytes, with a bound on its
// size. Fragments are immutable once stored.
type fragmentCache struct {
	max    int
	shards [32]struct {
		sync.RWMutex
		m map[fragKey][]byte
	}
}

type fragKey struct {
	id      starling.ID
	version uint64
}

func newFragmentCache(max int) *fragmentCache {
	c := &fragmentCache{max: max / 32}
	for i := range c.shards {
		c.shards[i].m = map[fragKey][]byte{}
	}
	return c
}

func (c *fragmentCache) shard(id starling.ID) *struct {
	sync.RWMutex
	m map[fragKey][]byte
} {
	return &c.shards[uint64(id)%uint64(len(c.shards))]
}

func (c *fragmentCache) get(k fragKey) []byte {
	sh := c.shard(k.id)
	sh.RLock()
	b := sh.m[k]
	sh.RUnlock()
	return b
}

func (c *fragmentCache) put(k fragKey, b []byte) {
	sh := c.shard(k.id)
	sh.Lock()
	if len(sh.m) >= c.max {
		for old := range sh.m { // drop an arbitrary entry
			delete(sh.m, old)
			break
		}
	}
	sh.m[k] = b
	sh.Unlock()
}

// --- JSON primitives ---

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendID(b []byte, id starling.ID) []byte {
	b = append(b, '"')
	b = strconv.AppendInt(b, int64(id), 10)
	return append(b, '"')
}

func appendOptID(b []byte, id starling.ID) []byte {
	if id == 0 {
		return append(b, "null"...)
	}
	return appendID(b, id)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
	return append(b, '"')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }

func appendFloat(b []byte, f float64) []byte { return strconv.AppendFloat(b, f, 'f', -1, 64) }

// --- accounts ---

// appendAccount appends an Account entity.
func (r *renderer) appendAccount(b []byte, a *starling.Account) []byte {
	return append(r.appendAccountFields(b, a), '}')
}

// appendAccountFields appends an Account entity without its closing brace,
// for entities that extend it (CredentialAccount).
func (r *renderer) appendAccountFields(b []byte, a *starling.Account) []byte {
	k := fragKey{a.ID, a.Revision}
	frag := r.accounts.get(k)
	if frag == nil {
		frag = r.accountFragment(a)
		r.accounts.put(k, frag)
	}
	b = append(b, frag...)
	b = append(b, `,"followers_count":`...)
	b = appendInt(b, a.FollowersCount)
	b = append(b, `,"following_count":`...)
	b = appendInt(b, a.FollowingCount)
	b = append(b, `,"statuses_count":`...)
	b = appendInt(b, a.StatusesCount)
	b = append(b, `,"last_status_at":`...)
	if a.LastStatusAt != nil {
		b = append(b, '"')
		b = a.LastStatusAt.UTC().AppendFormat(b, "2006-01-02")
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	return b
}

// accountFragment renders the profile part of an Account: an unterminated
// object.
func (r *renderer) accountFragment(a *starling.Account) []byte {
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":`...)
	b = appendID(b, a.ID)
	b = append(b, `,"username":`...)
	b = appendString(b, a.Username)
	b = append(b, `,"acct":`...)
	b = appendString(b, a.Username)
	b = append(b, `,"display_name":`...)
	b = appendString(b, a.DisplayName)
	b = append(b, `,"locked":`...)
	b = appendBool(b, a.Locked)
	b = append(b, `,"bot":`...)
	b = appendBool(b, a.Bot)
	b = append(b, `,"discoverable":`...)
	b = appendBool(b, a.Discoverable)
	b = append(b, `,"indexable":false,"group":false,"created_at":`...)
	b = appendTime(b, a.CreatedAt.UTC().Truncate(24*time.Hour))
	b = append(b, `,"note":`...)
	b = appendString(b, a.NoteHTML)
	b = append(b, `,"url":`...)
	b = appendString(b, r.base+"/@"+a.Username)
	b = append(b, `,"uri":`...)
	b = appendString(b, r.base+"/users/"+a.Username)
	avatar, avatarStatic := r.profileImage(a.Avatar, defaultAvatarPath)
	header, headerStatic := r.profileImage(a.Header, defaultHeaderPath)
	b = append(b, `,"avatar":`...)
	b = appendString(b, avatar)
	b = append(b, `,"avatar_static":`...)
	b = appendString(b, avatarStatic)
	b = append(b, `,"header":`...)
	b = appendString(b, header)
	b = append(b, `,"header_static":`...)
	b = appendString(b, headerStatic)
	b = append(b, `,"avatar_description":"","header_description":"","hide_collections":null,"noindex":false,"emojis":[],"roles":[],"fields":`...)
	b = appendFields(b, a.Fields, true)
	return b
}

// profileImage returns the URLs of an avatar or header, or of the
// placeholder when there is none.
func (r *renderer) profileImage(p *starling.ProfileImage, placeholder string) (url, static string) {
	if p == nil {
		return r.base + placeholder, r.base + placeholder
	}
	static = p.StaticURL
	if static == "" {
		static = p.URL
	}
	return r.base + p.URL, r.base + static
}

// appendFields appends profile fields: with the value as HTML (Account) or
// as written (the source of a CredentialAccount).
func appendFields(b []byte, fields []starling.Field, html bool) []byte {
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, f.Name)
		b = append(b, `,"value":`...)
		if html {
			b = appendString(b, f.ValueHTML)
		} else {
			b = appendString(b, f.Value)
		}
		b = append(b, `,"verified_at":`...)
		if f.VerifiedAt != nil {
			b = appendTime(b, *f.VerifiedAt)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendCredentialAccount appends a CredentialAccount: the signed-in
// account with its source (what the user wrote, and posting defaults) and
// role.
func (r *renderer) appendCredentialAccount(b []byte, a *starling.Account, followRequests int64) []byte {
	b = r.appendAccountFields(b, a)
	privacy := a.Privacy
	if privacy == "" {
		privacy = starling.Public
	}
	b = append(b, `,"source":{"note":`...)
	b = appendString(b, a.Note)
	b = append(b, `,"fields":`...)
	b = appendFields(b, a.Fields, false)
	b = append(b, `,"privacy":`...)
	b = appendString(b, string(privacy))
	b = append(b, `,"sensitive":`...)
	b = appendBool(b, a.Sensitive)
	b = append(b, `,"language":`...)
	b = appendString(b, a.Language)
	b = append(b, `,"follow_requests_count":`...)
	b = appendInt(b, followRequests)
	b = append(b, `,"hide_collections":null,"discoverable":`...)
	b = appendBool(b, a.Discoverable)
	b = append(b, `,"indexable":false,"attribution_domains":[],"quote_policy":"public"}`...)
	b = append(b, `,"role":{"id":"-99","name":"","color":"","permissions":"0","highlighted":false}`...)
	return append(b, '}')
}

// --- statuses ---

// appendStatus appends a Status entity. withSource adds the source text
// (only the delete response carries it).
func (r *renderer) appendStatus(b []byte, st *starling.Status, withSource bool) []byte {
	var mediaVersion uint64
	for _, m := range st.Media {
		mediaVersion = mediaVersion*31 + m.Revision
	}
	k := fragKey{st.ID, st.Revision ^ mediaVersion<<1}
	frag := r.statuses.get(k)
	if frag == nil {
		frag = r.statusFragment(st)
		r.statuses.put(k, frag)
	}
	b = append(b, frag...)
	b = append(b, `,"replies_count":`...)
	b = appendInt(b, st.Counts.Replies)
	b = append(b, `,"reblogs_count":`...)
	b = appendInt(b, st.Counts.Reblogs)
	b = append(b, `,"favourites_count":`...)
	b = appendInt(b, st.Counts.Favourites)
	if st.Viewer != nil {
		b = append(b, `,"favourited":`...)
		b = appendBool(b, st.Viewer.Favourited)
		b = append(b, `,"reblogged":`...)
		b = appendBool(b, st.Viewer.Reblogged)
		b = append(b, `,"muted":false,"bookmarked":false,"pinned":false`...)
	}
	if withSource {
		b = append(b, `,"text":`...)
		b = appendString(b, st.Text)
	}
	b = append(b, `,"account":`...)
	b = r.appendAccount(b, st.Account)
	b = append(b, `,"reblog":`...)
	if st.Reblog != nil {
		b = r.appendStatus(b, st.Reblog, false)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

// statusFragment renders the parts of a Status that only change with its
// revision: an unterminated object.
func (r *renderer) statusFragment(st *starling.Status) []byte {
	b := make([]byte, 0, 1024+len(st.Content))
	username := ""
	if st.Account != nil {
		username = st.Account.Username
	}
	b = append(b, `{"id":`...)
	b = appendID(b, st.ID)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, st.CreatedAt)
	b = append(b, `,"in_reply_to_id":`...)
	b = appendOptID(b, st.InReplyToID)
	b = append(b, `,"in_reply_to_account_id":`...)
	b = appendOptID(b, st.InReplyToAccountID)
	b = append(b, `,"sensitive":`...)
	b = appendBool(b, st.Sensitive)
	b = append(b, `,"spoiler_text":`...)
	b = appendString(b, st.SpoilerText)
	b = append(b, `,"visibility":`...)
	b = appendString(b, string(st.Visibility))
	b = append(b, `,"language":`...)
	if st.Language != "" {
		b = appendString(b, st.Language)
	} else {
		b = append(b, "null"...)
	}
	uri := r.base + "/users/" + username + "/statuses/" + st.ID.String()
	if st.ReblogOfID != 0 {
		uri += "/activity"
	}
	b = append(b, `,"uri":`...)
	b = appendString(b, uri)
	b = append(b, `,"url":`...)
	if st.ReblogOfID != 0 {
		b = append(b, "null"...)
	} else {
		b = appendString(b, r.base+"/@"+username+"/"+st.ID.String())
	}
	b = append(b, `,"edited_at":`...)
	if st.EditedAt != nil {
		b = appendTime(b, *st.EditedAt)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"content":`...)
	b = appendString(b, st.Content)
	if st.AppName != "" {
		b = append(b, `,"application":{"name":`...)
		b = appendString(b, st.AppName)
		b = append(b, `,"website":`...)
		if st.AppWebsite != "" {
			b = appendString(b, st.AppWebsite)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, '}')
	}
	b = append(b, `,"media_attachments":[`...)
	for i, m := range st.Media {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.appendMedia(b, m)
	}
	b = append(b, `],"mentions":[`...)
	for i, m := range st.Mentions {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendID(b, m.ID)
		b = append(b, `,"username":`...)
		b = appendString(b, m.Username)
		b = append(b, `,"url":`...)
		b = appendString(b, r.base+"/@"+m.Username)
		b = append(b, `,"acct":`...)
		b = appendString(b, m.Username)
		b = append(b, '}')
	}
	b = append(b, `],"tags":[`...)
	for i, t := range st.Tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendString(b, t)
		b = append(b, `,"url":`...)
		b = appendString(b, r.base+"/tags/"+t)
		b = append(b, '}')
	}
	b = append(b, `],"emojis":[],"card":null,"poll":null,"quotes_count":0,"quote":null,"quote_approval":{"automatic":[],"manual":[],"current_user":"denied"},"tagged_collections":[]`...)
	return b
}

// appendMedia appends a MediaAttachment entity.
func (r *renderer) appendMedia(b []byte, m *starling.MediaAttachment) []byte {
	b = append(b, `{"id":`...)
	b = appendID(b, m.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, m.Type)
	b = append(b, `,"url":`...)
	if m.URL != "" {
		b = appendString(b, r.base+m.URL)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"preview_url":`...)
	if m.PreviewURL != "" {
		b = appendString(b, r.base+m.PreviewURL)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"remote_url":null,"preview_remote_url":null,"text_url":null,"meta":`...)
	b = appendMediaMeta(b, m)
	b = append(b, `,"description":`...)
	if m.Description != "" {
		b = appendString(b, m.Description)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"blurhash":`...)
	if m.Blurhash != "" {
		b = appendString(b, m.Blurhash)
	} else {
		b = append(b, "null"...)
	}
	return append(b, '}')
}

func appendMediaMeta(b []byte, m *starling.MediaAttachment) []byte {
	dims := func(b []byte, w, h int) []byte {
		b = append(b, `{"width":`...)
		b = appendInt(b, int64(w))
		b = append(b, `,"height":`...)
		b = appendInt(b, int64(h))
		b = append(b, `,"size":"`...)
		b = appendInt(b, int64(w))
		b = append(b, 'x')
		b = appendInt(b, int64(h))
		b = append(b, `","aspect":`...)
		b = appendFloat(b, float64(w)/float64(max(h, 1)))
		return b
	}
	b = append(b, '{')
	first := true
	if m.Width > 0 && m.Height > 0 {
		b = append(b, `"original":`...)
		b = dims(b, m.Width, m.Height)
		if m.Duration > 0 {
			b = append(b, `,"duration":`...)
			b = appendFloat(b, m.Duration)
		}
		b = append(b, '}')
		first = false
	} else if m.Duration > 0 {
		b = append(b, `"original":{"duration":`...)
		b = appendFloat(b, m.Duration)
		b = append(b, '}')
		first = false
	}
	if m.PreviewW > 0 && m.PreviewH > 0 {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"small":`...)
		b = dims(b, m.PreviewW, m.PreviewH)
		b = append(b, '}')
		first = false
	}
	if !first {
		b = append(b, ',')
	}
	b = append(b, `"focus":{"x":`...)
	b = appendFloat(b, m.FocusX)
	b = append(b, `,"y":`...)
	b = appendFloat(b, m.FocusY)
	return append(b, "}}"...)
}

// bufPool recycles response buffers: a timeline page is tens of kilobytes,
// and allocating it per request was most of the gateway's garbage.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// pooledJSON is a response body in a pooled buffer; the api wrapper
// returns the buffer after writing it.
type pooledJSON struct{ b *[]byte }

// release returns the buffer to the pool unless it grew too large to keep.
func (p pooledJSON) release() {
	if cap(*p.b) <= 1<<20 {
		*p.b = (*p.b)[:0]
		bufPool.Put(p.b)
	}
}

// statusListPooled renders statuses as a JSON array into a pooled buffer.
func (r *renderer) statusListPooled(sts []*starling.Status) pooledJSON {
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '[')
	for i, st := range sts {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.appendStatus(b, st, false)
	}
	*bp = append(b, ']')
	return pooledJSON{bp}
}

// statusList renders statuses as a JSON array.
func (r *renderer) statusList(sts []*starling.Status) []byte {
	b := make([]byte, 0, 2048*len(sts)+2)
	b = append(b, '[')
	for i, st := range sts {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.appendStatus(b, st, false)
	}
	return append(b, ']')
}

// accountList renders accounts as a JSON array.
func (r *renderer) accountList(as []*starling.Account) []byte {
	b := make([]byte, 0, 1024*len(as)+2)
	b = append(b, '[')
	for i, a := range as {
		if i > 0 {
			b = append(b, ',')
		}
		b = r.appendAccount(b, a)
	}
	return append(b, ']')
}
