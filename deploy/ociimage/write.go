package ociimage

import (
	"archive/tar"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// WriteLayout writes idx as an OCI image layout in dir (created if needed),
// tagged tag (the org.opencontainers.image.ref.name annotation): what
// skopeo, crane, podman and containerd import.
func WriteLayout(dir string, idx v1.ImageIndex, tag string) error {
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": tag}))
}

// WriteArchive writes the OCI layout in dir as one tar file (an
// "oci-archive": `skopeo copy oci-archive:FILE docker://...`, `podman load
// -i FILE`), with fixed times and owners.
func WriteArchive(dir, file string, created time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && path != dir {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(paths)
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, path := range paths {
		rel, _ := filepath.Rel(dir, path)
		if err := archiveFile(tw, path, filepath.ToSlash(rel), created); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func archiveFile(tw *tar.Writer, path, name string, created time.Time) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	h := &tar.Header{Name: name, Mode: 0o644, ModTime: created, Format: tar.FormatPAX}
	if st.IsDir() {
		h.Name, h.Mode, h.Typeflag = name+"/", 0o755, tar.TypeDir
		return tw.WriteHeader(h)
	}
	h.Typeflag, h.Size = tar.TypeReg, st.Size()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(tw, src)
	return err
}

// Push uploads idx to a registry as ref (registry/repository:tag), with
// the credentials of the Docker configuration (~/.docker/config.json, or
// credential helpers) when it has some. Loopback registries are reached
// over plain HTTP.
func Push(ctx context.Context, ref string, idx v1.ImageIndex) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return err
	}
	return remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
}

// Size returns the bytes a pull of one platform's image downloads (its
// compressed layers, config and manifest) and the size of its files
// once unpacked.
func Size(img v1.Image) (compressed, unpacked int64, err error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, 0, err
	}
	compressed = m.Config.Size + int64(len(raw))
	for _, l := range m.Layers {
		compressed += l.Size
	}
	layers, err := img.Layers()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return 0, 0, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return 0, 0, err
			}
			unpacked += h.Size
		}
		rc.Close()
	}
	return compressed, unpacked, nil
}
