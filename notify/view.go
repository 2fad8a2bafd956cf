package notify

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"

	"github.com/starling-social/starling"
	"github.com/starling-social/starling/engine"
)

// entry is one stored notification.
type entry struct {
	key       string // the table key's last token ("favourite-<status>-<account>")
	id        starling.ID
	typ       string
	account   starling.ID
	status    starling.ID
	createdMs int64
}

// userNotifs is one account's notifications, ascending by ID.
type userNotifs struct {
	list  []*entry
	byKey map[string]*entry
}

// view is one partition of the notifications: those of the accounts whose
// IDs fall in partition p, which is exactly what partition p of the notify
// table holds (its keys are partitioned by recipient). It is built from the
// partition's latest snapshot and its stream's tail, and kept current by
// following that stream; applied is the last sequence applied, so a
// snapshot says what it covers. Reads come from memory. Safe for concurrent
// use; no lock of it is taken outside this file.
type view struct {
	mu       sync.RWMutex
	p        int
	capacity int
	users    map[starling.ID]*userNotifs
	byStatus map[starling.ID]map[starling.ID][]string // status -> recipient -> keys
	applied  uint64
	saved    uint64
	progress chan struct{} // closed and replaced after each batch
	follower *engine.Follower
}

func newView(p, capacity int) *view {
	return &view{p: p, capacity: capacity, users: map[starling.ID]*userNotifs{},
		byStatus: map[starling.ID]map[starling.ID][]string{}, progress: make(chan struct{})}
}

func (v *view) user(id starling.ID) *userNotifs {
	u := v.users[id]
	if u == nil {
		u = &userNotifs{byKey: map[string]*entry{}}
		v.users[id] = u
	}
	return u
}

func cmpEntry(e *entry, id starling.ID) int {
	switch {
	case e.id < id:
		return -1
	case e.id > id:
		return 1
	}
	return 0
}

// apply applies a batch of the partition's stream, in order. It returns
// the accounts whose lists grew past the capacity (to trim).
func (v *view) apply(batch []engine.Change) (overfull []starling.ID) {
	v.mu.Lock()
	defer func() {
		close(v.progress)
		v.progress = make(chan struct{})
		v.mu.Unlock()
	}()
	for _, c := range batch {
		if c.Seq <= v.applied {
			continue
		}
		v.applied = c.Seq
		if r, ok := v.applyOne(c); ok && len(v.users[r].list) > v.capacity+trimSlack && !slices.Contains(overfull, r) {
			overfull = append(overfull, r)
		}
	}
	return overfull
}

// trimSlack is how far an account's list may grow past the capacity before
// its oldest notifications are deleted (deleting is batched).
const trimSlack = 50

// applyOne applies one change; it returns the recipient of an added
// notification.
func (v *view) applyOne(c engine.Change) (starling.ID, bool) {
	parts := strings.SplitN(c.Key, ".", 3)
	if len(parts) < 2 {
		return 0, false
	}
	recipient, err := starling.ParseID(parts[1])
	if err != nil {
		return 0, false
	}
	switch parts[0] {
	case "notif":
		if len(parts) != 3 {
			return 0, false
		}
		if c.Deleted {
			v.remove(recipient, parts[2])
			return 0, false
		}
		var r record
		if json.Unmarshal(c.Value, &r) != nil {
			return 0, false
		}
		v.put(recipient, &entry{key: parts[2], id: r.ID, typ: r.Type, account: r.Account, status: r.Status, createdMs: r.Created.UnixMilli()})
		return recipient, true
	case "cleared":
		var r clearedRecord
		if !c.Deleted && json.Unmarshal(c.Value, &r) == nil {
			v.clearBefore(recipient, r.Before)
		}
	}
	return 0, false
}

// put stores or replaces a notification.
func (v *view) put(recipient starling.ID, e *entry) {
	u := v.user(recipient)
	if old := u.byKey[e.key]; old != nil {
		v.remove(recipient, e.key)
		u = v.user(recipient)
	}
	u.byKey[e.key] = e
	i, _ := slices.BinarySearchFunc(u.list, e.id, cmpEntry)
	u.list = slices.Insert(u.list, i, e)
	if e.status != 0 {
		m := v.byStatus[e.status]
		if m == nil {
			m = map[starling.ID][]string{}
			v.byStatus[e.status] = m
		}
		m[recipient] = append(m[recipient], e.key)
	}
}

// remove deletes the notification with key of recipient.
func (v *view) remove(recipient starling.ID, key string) {
	u := v.users[recipient]
	if u == nil {
		return
	}
	e := u.byKey[key]
	if e == nil {
		return
	}
	delete(u.byKey, key)
	if i, found := slices.BinarySearchFunc(u.list, e.id, cmpEntry); found {
		u.list = slices.Delete(u.list, i, i+1)
	}
	if e.status != 0 {
		if m := v.byStatus[e.status]; m != nil {
			keys := slices.DeleteFunc(m[recipient], func(k string) bool { return k == key })
			if len(keys) == 0 {
				delete(m, recipient)
			} else {
				m[recipient] = keys
			}
			if len(m) == 0 {
				delete(v.byStatus, e.status)
			}
		}
	}
	if len(u.list) == 0 {
		delete(v.users, recipient)
	}
}

// clearBefore drops a recipient's notifications with IDs up to before.
func (v *view) clearBefore(recipient, before starling.ID) {
	u := v.users[recipient]
	if u == nil {
		return
	}
	var keys []string
	for _, e := range u.list {
		if e.id > before {
			break
		}
		keys = append(keys, e.key)
	}
	for _, k := range keys {
		v.remove(recipient, k)
	}
}

// newest returns the recipient's notifications within the capacity,
// ascending. Under the read lock.
func (v *view) newest(recipient starling.ID) []*entry {
	u := v.users[recipient]
	if u == nil {
		return nil
	}
	l := u.list
	if len(l) > v.capacity {
		l = l[len(l)-v.capacity:]
	}
	return l
}

// page returns a page of the recipient's notifications, newest first.
func (v *view) page(recipient starling.ID, q starling.NotificationQuery, limit int) []*entry {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return pageEntries(v.newest(recipient), q, limit)
}

// find returns one of the recipient's notifications.
func (v *view) find(recipient, id starling.ID) *entry {
	v.mu.RLock()
	defer v.mu.RUnlock()
	u := v.users[recipient]
	if u == nil {
		return nil
	}
	if i, found := slices.BinarySearchFunc(u.list, id, cmpEntry); found {
		return u.list[i]
	}
	return nil
}

// newestID returns the recipient's newest notification's ID, or 0.
func (v *view) newestID(recipient starling.ID) starling.ID {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if u := v.users[recipient]; u != nil && len(u.list) > 0 {
		return u.list[len(u.list)-1].id
	}
	return 0
}

// unread counts the recipient's notifications newer than last (of types;
// all when empty), up to limit.
func (v *view) unread(recipient, last starling.ID, types []string, limit int) int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	list := v.newest(recipient)
	n := 0
	for i := len(list) - 1; i >= 0 && n < limit; i-- {
		e := list[i]
		if e.id <= last {
			break
		}
		if len(types) == 0 || slices.Contains(types, e.typ) {
			n++
		}
	}
	return n
}

// oldest returns the table keys of the recipient's notifications beyond
// the capacity, oldest first.
func (v *view) oldest(recipient starling.ID) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var keys []string
	if u := v.users[recipient]; u != nil && len(u.list) > v.capacity {
		for _, e := range u.list[:len(u.list)-v.capacity] {
			keys = append(keys, notifKey(recipient, e.key))
		}
	}
	return keys
}

// about returns the table keys of the notifications about a status.
func (v *view) about(status starling.ID) []string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var keys []string
	for recipient, ks := range v.byStatus[status] {
		for _, k := range ks {
			keys = append(keys, notifKey(recipient, k))
		}
	}
	return keys
}

// appliedState returns the last applied sequence and the channel closed
// at the next batch.
func (v *view) appliedState() (uint64, <-chan struct{}) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.applied, v.progress
}

// bytes estimates the partition's memory.
func (v *view) bytes() int64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	n := 0
	for _, u := range v.users {
		n += 48 + 24 + 48 + cap(u.list)*8
		for _, e := range u.list {
			n += 96 + len(e.key) + len(e.typ) + 48 + len(e.key)
		}
	}
	n += len(v.byStatus) * 96
	return int64(n)
}

// --- snapshots ---

const snapMagic = "SNV1"

var errSnapshot = errors.New("notify snapshot: corrupt or of another version")

// encode returns the compressed snapshot of the partition and the
// sequence it covers.
func (v *view) encode() ([]byte, uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := binary.AppendUvarint([]byte(snapMagic), uint64(v.p))
	b = binary.AppendUvarint(b, v.applied)
	users := slices.Sorted(maps.Keys(v.users))
	b = binary.AppendUvarint(b, uint64(len(users)))
	for _, r := range users {
		u := v.users[r]
		b = binary.AppendUvarint(b, uint64(r))
		b = binary.AppendUvarint(b, uint64(len(u.list)))
		for _, e := range u.list {
			for _, s := range []string{e.key, e.typ} {
				b = binary.AppendUvarint(b, uint64(len(s)))
				b = append(b, s...)
			}
			for _, x := range []uint64{uint64(e.id), uint64(e.account), uint64(e.status), uint64(e.createdMs)} {
				b = binary.AppendUvarint(b, x)
			}
		}
	}
	return s2.Encode(nil, b), v.applied
}

// decodeView rebuilds a partition from a snapshot.
func decodeView(data []byte, capacity int) (*view, error) {
	raw, err := s2.Decode(nil, data)
	if err != nil || !strings.HasPrefix(string(raw), snapMagic) {
		return nil, errSnapshot
	}
	r := raw[len(snapMagic):]
	bad := false
	uint := func() uint64 {
		x, n := binary.Uvarint(r)
		if n <= 0 {
			bad, r = true, nil
			return 0
		}
		r = r[n:]
		return x
	}
	str := func() string {
		n := uint()
		if n > uint64(len(r)) {
			bad, r = true, nil
			return ""
		}
		s := string(r[:n])
		r = r[n:]
		return s
	}
	v := newView(int(uint()), capacity)
	v.applied = uint()
	for nu := uint(); nu > 0 && !bad; nu-- {
		recipient := starling.ID(uint())
		for ne := uint(); ne > 0 && !bad; ne-- {
			e := &entry{key: str(), typ: str()}
			e.id, e.account, e.status, e.createdMs = starling.ID(uint()), starling.ID(uint()), starling.ID(uint()), int64(uint())
			v.put(recipient, e)
		}
	}
	if bad || len(r) != 0 {
		return nil, errSnapshot
	}
	v.saved = v.applied
	return v, nil
}
