package bench

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"time"
)

// stateVersion is the format of the state file.
const stateVersion = 1

// StateVersion is the format of the state files this version writes.
const StateVersion = stateVersion

// State is what setup built on a server: the accounts with their tokens and
// which follows and seed posts exist. Setup saves it as it goes, so an
// interrupted setup resumes where it stopped; run reads the accounts from it.
type State struct {
	Version      int       `json:"version"`
	Targets      []string  `json:"targets"`        // gateway base URLs; account i lives behind Targets[i % len]
	Graph        string    `json:"graph"`          // graph spec, see LoadGraph
	Seed         uint64    `json:"seed"`           // seed of generated graphs
	Checksum     string    `json:"graph_checksum"` // Graph.Checksum of the graph
	Datasets     string    `json:"datasets,omitempty"`
	Prefix       string    `json:"username_prefix,omitempty"`
	EmailDomain  string    `json:"email_domain,omitempty"`
	FromTokens   bool      `json:"from_tokens,omitempty"` // accounts came from a tokens file
	PostsPerUser int       `json:"posts_per_user"`
	Users        []User    `json:"users"`        // one per graph account, in graph order
	Follows      int       `json:"follows"`      // follows in the graph
	FollowsDone  Bitset    `json:"follows_done"` // bit i: the graph's follow i is done
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// User is one account of the state.
type User struct {
	ID       string `json:"id,omitempty"`
	Username string `json:"username,omitempty"`
	Token    string `json:"token,omitempty"`
	Posts    int    `json:"posts,omitempty"` // seed posts made
}

// Ready reports whether the account exists and can be used.
func (u *User) Ready() bool { return u.ID != "" && u.Token != "" }

// ReadyUsers returns the accounts that exist, with their graph index.
func (s *State) ReadyUsers() (users []User, index []int) {
	for i := range s.Users {
		if s.Users[i].Ready() {
			users = append(users, s.Users[i])
			index = append(index, i)
		}
	}
	return users, index
}

// TargetOf returns the gateway account i talks to.
func (s *State) TargetOf(i int) string { return s.Targets[i%len(s.Targets)] }

// LoadState reads a state file.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s: state version %d, want %d", path, s.Version, stateVersion)
	}
	return &s, nil
}

// Save writes the state to path atomically (a temporary file renamed over
// it), so a crash never leaves half a file.
func (s *State) Save(path string) error {
	s.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Bitset is a set of small integers; in JSON it is the base64 of its bytes,
// lowest bit first.
type Bitset []uint64

// NewBitset returns an empty set able to hold 0..n-1.
func NewBitset(n int) Bitset { return make(Bitset, (n+63)/64) }

// Has reports whether i is in the set.
func (b Bitset) Has(i int) bool { return i/64 < len(b) && b[i/64]&(1<<(i%64)) != 0 }

// Set adds i to the set, which must be able to hold it.
func (b Bitset) Set(i int) { b[i/64] |= 1 << (i % 64) }

// Count returns the size of the set.
func (b Bitset) Count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// MarshalJSON encodes the set as base64.
func (b Bitset) MarshalJSON() ([]byte, error) {
	raw := make([]byte, 8*len(b))
	for i, w := range b {
		for j := range 8 {
			raw[8*i+j] = byte(w >> (8 * j))
		}
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(raw))
}

// UnmarshalJSON decodes a set written by MarshalJSON.
func (b *Bitset) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	out := make(Bitset, (len(raw)+7)/8)
	for i, c := range raw {
		out[i/8] |= uint64(c) << (8 * (i % 8))
	}
	*b = out
	return nil
}
