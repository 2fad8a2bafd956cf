package shard

// Internals the tests in package shard_test use.

// Crash stops a member as a killed process stops: no more renewals, no
// hand-over.
func Crash(m *Manager) {
	close(m.stop)
	<-m.done
}

// Member returns the member's name.
func (m *Manager) Member() string { return m.cfg.Member }

var (
	LeaseKey = leaseKey
	Assign   = assign
)
