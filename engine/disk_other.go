//go:build !(linux || darwin)

package engine

// diskUsage is unknown on this platform.
func diskUsage(string) (avail, size uint64) { return 0, 0 }
