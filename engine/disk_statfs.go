//go:build linux || darwin

package engine

import "syscall"

// diskUsage returns the bytes available to an unprivileged process and the
// size of the file system holding path (0, 0 when it cannot tell).
func diskUsage(path string) (avail, size uint64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0
	}
	bs := uint64(st.Bsize)
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs
}
