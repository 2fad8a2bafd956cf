package starling

// Subjects of the events services publish on NATS for others to react to.
// Core NATS events are best-effort invalidations: a subscriber that loses
// its connection must assume it missed some and drop what it cached.
const (
	// SubjectAccountChanged + "." + account ID is published after a
	// profile change commits.
	SubjectAccountChanged = "starling.events.account"
)
