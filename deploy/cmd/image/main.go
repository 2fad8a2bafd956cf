// Command image builds Starling's multi-architecture container image
// without a container engine (see package ociimage) and writes it as an OCI
// layout, an OCI archive, or pushes it to a registry.
//
//	scripts/image --out ./starling-oci                    # OCI layout directory
//	scripts/image --archive starling.tar                  # one tar: skopeo, podman load
//	scripts/image --push registry.example/starling:v1.2.3 # any OCI registry
//
// With none of them it builds and prints the digest and sizes only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/starling-social/starling/deploy/ociimage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o ociimage.Options
	var platforms, out, archive, push, created string
	fs.StringVar(&o.Source, "source", ".", "the starling module's root, or a directory under it")
	fs.StringVar(&platforms, "platforms", strings.Join(ociimage.DefaultPlatforms, ","), "comma-separated os/arch list")
	fs.StringVar(&o.Version, "version", "", "version to stamp (default: the commit's tag, else the source's version plus the commit)")
	fs.StringVar(&created, "created", "", "creation time of the image and its files, RFC 3339 (default: SOURCE_DATE_EPOCH, else the commit's time)")
	fs.StringVar(&o.BinDir, "bin-dir", "", "keep the built binaries in this directory")
	fs.StringVar(&out, "out", "", "write an OCI image layout to this directory")
	fs.StringVar(&archive, "archive", "", "write an OCI archive (a tar of the layout) to this file")
	fs.StringVar(&push, "push", "", "push to this reference, registry/repository:tag")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	src, err := ociimage.FindSource(o.Source)
	if err != nil {
		return err
	}
	o.Source, o.Platforms, o.Log = src, strings.Split(platforms, ","), stderr
	if created != "" {
		if err := o.Created.UnmarshalText([]byte(created)); err != nil {
			return fmt.Errorf("--created: %w", err)
		}
	}
	if err := o.Resolve(ctx); err != nil {
		return err
	}
	idx, err := ociimage.Build(ctx, o)
	if err != nil {
		return err
	}
	if err := report(stdout, o, idx); err != nil {
		return err
	}
	return write(ctx, o, idx, out, archive, push, stdout)
}

func write(ctx context.Context, o ociimage.Options, idx v1.ImageIndex, out, archive, push string, stdout io.Writer) error {
	if archive != "" && out == "" {
		d, err := os.MkdirTemp("", "starling-oci-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		out = d
	}
	if out != "" {
		if err := ociimage.WriteLayout(out, idx, o.Version); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "OCI layout: %s\n", out)
	}
	if archive != "" {
		if err := ociimage.WriteArchive(out, archive, o.Created); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "OCI archive: %s\n", archive)
	}
	if push != "" {
		if err := ociimage.Push(ctx, push, idx); err != nil {
			return fmt.Errorf("push %s: %w", push, err)
		}
		fmt.Fprintf(stdout, "pushed %s\n", push)
	}
	return nil
}

// report prints the index digest and each platform's digest and sizes.
func report(w io.Writer, o ociimage.Options, idx v1.ImageIndex) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "starling %s (revision %s, created %s)\nindex %s\n", o.Version, o.Revision, o.Created.Format("2006-01-02T15:04:05Z07:00"), d)
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) == 0 {
		return errors.New("empty index")
	}
	for _, desc := range m.Manifests {
		img, err := idx.Image(desc.Digest)
		if err != nil {
			return err
		}
		c, u, err := ociimage.Size(img)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-12s %s  %.1f MB to pull, %.1f MB unpacked\n", desc.Platform.String(), desc.Digest, float64(c)/1e6, float64(u)/1e6)
	}
	return nil
}
