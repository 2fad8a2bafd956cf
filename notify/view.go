package notify

import (
	"slices"
	"sync"

	"github.com/starling-social/starling"
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

// view is this node's in-memory copy of every account's notifications,
// replayed from the notify table's streams and kept current by consuming
// them, like the feed view. Reads come from memory. Safe for concurrent use.
type view struct {
	mu       sync.RWMutex
	capacity int
	users    map[starling.ID]*userNotifs
	byStatus map[starling.ID]map[starling.ID][]string // status -> recipient -> keys
	seqs     map[string]uint64
}

func newView(capacity int) *view {
	return &view{capacity: capacity, users: map[starling.ID]*userNotifs{},
		byStatus: map[starling.ID]map[starling.ID][]string{}, seqs: map[string]uint64{}}
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

// put stores or replaces a notification.
func (v *view) put(recipient starling.ID, e *entry) {
	u := v.user(recipient)
	if old := u.byKey[e.key]; old != nil {
		v.remove(recipient, e.key)
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
// ascending.
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
