package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/starling-social/starling/cluster"
	"github.com/starling-social/starling/internal/startest"
)

// TestBackupRestoreFromNodeSnapshots checks the backup procedure of
// docs/deploy.md: a snapshot of each node's data volume, taken one node at
// a time while the cluster serves (a Kubernetes VolumeSnapshot of each
// PVC; here, the node's process frozen while its data directory is
// copied, which is what a volume snapshot captures), restores into a new
// cluster with the same node names (new addresses) holding every write
// acknowledged before the backup, and nothing written after it.
func TestBackupRestoreFromNodeSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("backup test")
	}
	l := startCluster(t, 3)
	c := startest.NewClient(t, l.Node(0).URL())
	u := c.SignUp("backup")
	var before []string
	for i := range 8 {
		m := c.As(u.Token).Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {fmt.Sprintf("before the backup %d", i)}}).Map(t)
		before = append(before, m["id"].(string))
	}

	backup := t.TempDir()
	for i, n := range l.Nodes() {
		if err := l.Signal(i, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		err := os.CopyFS(filepath.Join(backup, n.Name), os.DirFS(n.Dir))
		if serr := l.Signal(i, syscall.SIGCONT); serr != nil {
			t.Fatal(serr)
		}
		if err != nil {
			t.Fatalf("snapshot of %s: %v", n.Name, err)
		}
	}
	after := c.As(u.Token).Must(200, "POST", "/api/v1/statuses", startest.Form{"status": {"after the backup"}}).Map(t)["id"].(string)
	for i := range l.Nodes() {
		_ = l.Kill(i) // the cluster is lost
	}

	restored := newTestCluster(t, cluster.Options{Nodes: 3})
	for _, n := range restored.Nodes() {
		if err := os.CopyFS(n.Dir, os.DirFS(filepath.Join(backup, n.Name))); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := restored.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i, n := range restored.Nodes() {
		rc := startest.NewClient(t, n.URL()).As(u.Token)
		rc.Must(200, "GET", "/api/v1/accounts/verify_credentials", nil)
		for _, id := range before {
			startest.Eventually(t, 20*time.Second, fmt.Sprintf("status %s on restored node %d", id, i), func() bool {
				return rc.Do("GET", "/api/v1/statuses/"+id, nil).Status == 200
			})
		}
		if r := rc.Do("GET", "/api/v1/statuses/"+after, nil); r.Status != 404 {
			t.Errorf("restored node %d has the status written after the backup: %d", i, r.Status)
		}
	}
	startest.Eventually(t, 60*time.Second, "every partition of the restored cluster healthy", func() bool {
		st, err := restored.Admin(0).Status(ctx)
		return err == nil && len(st.Unhealthy) == 0 && st.MaxLag == 0
	})
	for i := range restored.Nodes() {
		_ = restored.Kill(i)
	}
}
