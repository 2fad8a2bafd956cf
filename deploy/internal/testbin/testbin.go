// Package testbin gives the deploy module's tests the starling binary the
// image ships (static, version-stamped, built by package ociimage) for the
// machine the tests run on, built once per test binary.
package testbin

import (
	"context"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/starling-social/starling/deploy/ociimage"
)

var (
	once sync.Once
	path string
	dir  string
	err  error
)

// Path builds the binary the first time and returns its path; it fails
// the test when the build fails. STARLING_TEST_BINARY names one built
// already (deploy/test builds it once for every package's tests).
func Path(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		if path = os.Getenv("STARLING_TEST_BINARY"); path != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		var src string
		if src, err = ociimage.FindSource("."); err != nil {
			return
		}
		if dir, err = os.MkdirTemp("", "starling-testbin-"); err != nil {
			return
		}
		o := ociimage.Options{Source: src}
		if err = o.Resolve(ctx); err != nil {
			return
		}
		path, err = ociimage.BuildBinary(ctx, o, runtime.GOOS+"/"+runtime.GOARCH, dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Cleanup removes the binary; call it from TestMain after the tests ran.
func Cleanup() {
	if dir != "" {
		os.RemoveAll(dir)
	}
}
