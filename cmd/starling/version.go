package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/starling-social/starling"
)

func runVersion(stdout io.Writer) error {
	_, err := fmt.Fprintf(stdout, "starling %s (%s, %s/%s)\n", starling.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
