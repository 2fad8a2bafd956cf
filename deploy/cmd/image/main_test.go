package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestRun drives the command as scripts/image does: one platform, to an OCI
// layout and an archive.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out, errOut strings.Builder
	err := run(ctx, []string{"--platforms", "linux/amd64", "--version", "1.2.3-test", "--out", filepath.Join(dir, "oci"),
		"--archive", filepath.Join(dir, "starling.tar"), "--created", "2025-01-02T03:04:05Z"}, &out, &errOut)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"starling 1.2.3-test", "created 2025-01-02T03:04:05Z", "index sha256:", "linux/amd64", "MB to pull", "OCI layout: ", "OCI archive: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}
	if _, err := layout.ImageIndexFromPath(filepath.Join(dir, "oci")); err != nil {
		t.Errorf("no OCI layout: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "starling.tar")); err != nil || st.Size() < 5e6 {
		t.Errorf("archive: %v %v", st, err)
	}
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"extra"}, {"--created", "yesterday"}, {"--source", "/"}} {
		var out, errOut strings.Builder
		if err := run(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
