// Package ociimage builds Starling's container image without a container
// engine: it cross-compiles a static `starling` binary per platform with the
// Go toolchain and assembles an OCI image from scratch around it, the way ko
// does, with github.com/google/go-containerregistry.
//
// Each platform's image has two layers and nothing else: a base layer
// (/etc/passwd and /etc/group naming the unprivileged user, the Mozilla root
// certificates, a writable /data owned by that user and /tmp) and the binary
// at /usr/bin/starling. There is no shell, no package manager and no libc:
// the binary is built with CGO_ENABLED=0. The images of every platform are
// gathered in one OCI image index (a multi-architecture image).
//
// Builds are reproducible: every file time and the image's creation time are
// the commit's time (or SOURCE_DATE_EPOCH), entries are written in a fixed
// order with fixed owners, and the binary is built with -trimpath, so the
// same commit and Go toolchain give the same digests.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// What the image promises; the Kubernetes manifests (deploy/k8s) rely on
// it, and their tests check that they agree.
const (
	// UID and GID of the unprivileged user the image runs as ("starling").
	UID = 65532
	GID = 65532
	// User is the image's USER: numeric, so that a runtime can verify
	// runAsNonRoot without reading /etc/passwd.
	User = "65532:65532"
	// Binary is where the starling binary is, and the entrypoint.
	Binary = "/usr/bin/starling"
	// DataDir is the writable directory for the engine's data (--data).
	DataDir = "/data"
	// CACerts is the root certificate bundle.
	CACerts = "/etc/ssl/certs/ca-certificates.crt"
	// The ports a node listens on with the manifests' flags: HTTP (--http),
	// NATS clients (--nats-listen) and routes between nodes (--cluster).
	HTTPPort    = 8080
	NATSPort    = 4222
	ClusterPort = 6222
	// Module is the Go module the binary is built from, and VersionVar the
	// variable stamped with the version.
	Module     = "github.com/starling-social/starling"
	VersionVar = Module + ".Version"
	// SourceURL is the project's repository (the source label).
	SourceURL = "https://github.com/starling-social/starling"
)

// DefaultPlatforms are the platforms Build builds by default.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm64"}

// Options configures a build. Source is required; Version, Revision and
// Created default to what the source's git repository says.
type Options struct {
	// Source is the root of the starling module (where its go.mod is).
	Source string
	// Platforms, as os/arch[/variant] (default DefaultPlatforms).
	Platforms []string
	// Version is stamped into the binary (starling version) and the
	// image's labels. Default: the commit's tag if it has one, else the
	// version in the source plus the short commit ("0.1.0-dev+39ce4f6").
	Version string
	// Revision is the commit (default: git rev-parse HEAD; "" outside git).
	Revision string
	// Created is the time of every file and of the image (default:
	// SOURCE_DATE_EPOCH, else the commit's time, else the Unix epoch).
	Created time.Time
	// BinDir keeps the built binaries (starling-<os>-<arch>); default a
	// temporary directory removed after the build.
	BinDir string
	// Log receives progress lines (default: none).
	Log io.Writer
}

// Resolve fills o's defaults from the environment and the source's git
// repository.
func (o *Options) Resolve(ctx context.Context) error {
	if o.Source == "" {
		return errors.New("image: no source directory")
	}
	abs, err := filepath.Abs(o.Source)
	if err != nil {
		return err
	}
	o.Source = abs
	if len(o.Platforms) == 0 {
		o.Platforms = DefaultPlatforms
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Revision == "" {
		o.Revision, _ = o.git(ctx, "rev-parse", "HEAD")
		if o.Revision != "" {
			if dirty, _ := o.git(ctx, "status", "--porcelain", "--untracked-files=no"); dirty != "" {
				o.Revision += "-dirty"
			}
		}
	}
	if o.Version == "" {
		o.Version, err = o.defaultVersion(ctx)
		if err != nil {
			return err
		}
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0).UTC()
		if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
			var sec int64
			if _, err := fmt.Sscan(s, &sec); err != nil {
				return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
			}
			o.Created = time.Unix(sec, 0).UTC()
		} else if s, err := o.git(ctx, "log", "-1", "--format=%ct"); err == nil {
			var sec int64
			if _, err := fmt.Sscan(s, &sec); err == nil {
				o.Created = time.Unix(sec, 0).UTC()
			}
		}
	}
	return nil
}

func (o *Options) defaultVersion(ctx context.Context) (string, error) {
	if tag, err := o.git(ctx, "describe", "--tags", "--exact-match"); err == nil && tag != "" {
		return strings.TrimPrefix(tag, "v"), nil
	}
	v, err := sourceVersion(o.Source)
	if err != nil {
		return "", err
	}
	if rev, dirty := strings.CutSuffix(o.Revision, "-dirty"); rev != "" {
		v += "+" + rev[:min(7, len(rev))]
		if dirty {
			v += ".dirty"
		}
	}
	return v, nil
}

func (o *Options) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = o.Source
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// Build builds the binary of every platform and returns the multi-platform
// image index. o must be resolved.
func Build(ctx context.Context, o Options) (v1.ImageIndex, error) {
	binDir := o.BinDir
	if binDir == "" {
		d, err := os.MkdirTemp("", "starling-image-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		binDir = d
	}
	base, err := baseLayer(o.Created)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	var adds []mutate.IndexAddendum
	for _, p := range o.Platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			return nil, err
		}
		bin, err := BuildBinary(ctx, o, p, binDir)
		if err != nil {
			return nil, err
		}
		img, err := platformImage(o, *plat, base, bin)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: plat}})
	}
	idx = mutate.AppendManifests(idx, adds...)
	return mutate.Annotations(idx, annotations(o)).(v1.ImageIndex), nil
}

// BuildBinary cross-compiles the static starling binary for platform
// (os/arch) into dir and returns its path. o must be resolved.
func BuildBinary(ctx context.Context, o Options, platform, dir string) (string, error) {
	plat, err := v1.ParsePlatform(platform)
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "starling-"+plat.OS+"-"+plat.Architecture)
	fmt.Fprintf(o.Log, "building %s for %s (version %s)\n", out, platform, o.Version)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-ldflags", "-s -w -X "+VersionVar+"="+o.Version,
		"-o", out, "./cmd/starling")
	cmd.Dir = o.Source
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+plat.OS, "GOARCH="+plat.Architecture, "GOFLAGS=-mod=readonly")
	if plat.Architecture == "arm" && plat.Variant != "" {
		cmd.Env = append(cmd.Env, "GOARM="+strings.TrimPrefix(plat.Variant, "v"))
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = o.Log, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %w\n%s", platform, err, stderr.String())
	}
	fmt.Fprintf(o.Log, "built %s in %v\n", filepath.Base(out), time.Since(start).Round(100*time.Millisecond))
	return out, nil
}

func platformImage(o Options, plat v1.Platform, base v1.Layer, bin string) (v1.Image, error) {
	app, err := appLayer(o.Created, bin)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "starling image: users, CA certificates, /data, /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: o.Created}, CreatedBy: "starling image: go build ./cmd/starling"}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
	cf.Created = v1.Time{Time: o.Created}
	cf.Author = SourceURL
	cf.Config = v1.Config{
		User:       User,
		Entrypoint: []string{Binary},
		Cmd:        []string{"serve"},
		WorkingDir: DataDir,
		Env: []string{
			"PATH=/usr/bin",
			"SSL_CERT_FILE=" + CACerts,
			"STARLING_DATA=" + DataDir,
		},
		ExposedPorts: map[string]struct{}{
			fmt.Sprintf("%d/tcp", HTTPPort):    {},
			fmt.Sprintf("%d/tcp", NATSPort):    {},
			fmt.Sprintf("%d/tcp", ClusterPort): {},
		},
		Volumes:    map[string]struct{}{DataDir: {}},
		Labels:     annotations(o),
		StopSignal: "SIGTERM",
	}
	return mutate.ConfigFile(img, cf)
}

// annotations are the OCI labels of each image and annotations of the
// index.
func annotations(o Options) map[string]string {
	a := map[string]string{
		"org.opencontainers.image.title":       "starling",
		"org.opencontainers.image.description": "Starling: a distributed social platform speaking the Mastodon client API",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.created":     o.Created.Format(time.RFC3339),
		"org.opencontainers.image.source":      SourceURL,
		"org.opencontainers.image.url":         SourceURL,
	}
	if o.Revision != "" {
		a["org.opencontainers.image.revision"] = o.Revision
	}
	return a
}

// entry is one file or directory of a layer.
type entry struct {
	name     string // without a leading slash; directories end with "/"
	mode     int64
	uid, gid int
	data     []byte
}

// baseLayer holds the users, the root certificates and the writable
// directories.
func baseLayer(created time.Time) (v1.Layer, error) {
	certs, err := caBundle()
	if err != nil {
		return nil, err
	}
	return layer(created, []entry{
		{name: "data/", mode: 0o750, uid: UID, gid: GID},
		{name: "etc/", mode: 0o755},
		{name: "etc/group", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:\nstarling:x:%d:\n", GID)},
		{name: "etc/nsswitch.conf", mode: 0o644, data: []byte("hosts: files dns\n")},
		{name: "etc/passwd", mode: 0o644, data: fmt.Appendf(nil, "root:x:0:0:root:/root:/sbin/nologin\nstarling:x:%d:%d:starling:%s:/sbin/nologin\n", UID, GID, DataDir)},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: strings.TrimPrefix(CACerts, "/"), mode: 0o644, data: certs},
		{name: "tmp/", mode: 0o1777},
	})
}

// appLayer holds the binary.
func appLayer(created time.Time, bin string) (v1.Layer, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	return layer(created, []entry{
		{name: "usr/", mode: 0o755},
		{name: "usr/bin/", mode: 0o755},
		{name: strings.TrimPrefix(Binary, "/"), mode: 0o755, data: data},
	})
}

// caBundle returns the Mozilla (NSS) root certificates, as PEM, from
// golang.org/x/crypto/x509roots/fallback: pinned by the module version, so
// the image does not depend on the build machine's certificates. Roots that
// NSS trusts only with extra constraints (a distrust date) are left out, as
// a PEM bundle cannot express them.
func caBundle() ([]byte, error) {
	var buf bytes.Buffer
	n := 0
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		return nil, errors.New("image: no root certificates")
	}
	return buf.Bytes(), nil
}

// layer writes entries (in the given order, which must list parents first)
// as a reproducible gzipped tar layer.
func layer(created time.Time, entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: created, Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
}
