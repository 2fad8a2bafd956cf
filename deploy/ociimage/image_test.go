package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// The image is built once per test binary (two cross-compilations) and
// shared by the tests.
var (
	buildOnce sync.Once
	built     struct {
		opts Options
		idx  v1.ImageIndex
		err  error
	}
)

func buildImage(t *testing.T) (Options, v1.ImageIndex) {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		src, err := FindSource(".")
		if err != nil {
			built.err = err
			return
		}
		dir, err := os.MkdirTemp("", "starling-image-test-")
		if err != nil {
			built.err = err
			return
		}
		built.opts = Options{Source: src, BinDir: dir, Log: testLog{}}
		if built.err = built.opts.Resolve(ctx); built.err != nil {
			return
		}
		start := time.Now()
		built.idx, built.err = Build(ctx, built.opts)
		testLog{}.Write([]byte("image built in " + time.Since(start).Round(time.Second).String() + "\n"))
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.opts, built.idx
}

// testLog prints the build's progress with go test -v.
type testLog struct{}

func (testLog) Write(p []byte) (int, error) {
	if testing.Verbose() {
		os.Stderr.Write(p)
	}
	return len(p), nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.opts.BinDir != "" {
		os.RemoveAll(built.opts.BinDir)
	}
	os.Exit(code)
}

// images returns the index's images by platform ("linux/amd64").
func images(t *testing.T, idx v1.ImageIndex) map[string]v1.Image {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Image{}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Platform.String()] = img
	}
	return out
}

// TestImageIndex: one OCI index with an image per platform, amd64 and
// arm64, each of a few tens of MB at most. (Their validity, every digest
// and size checked, is checked where they are read back: from a registry
// and from the OCI layout.)
func TestImageIndex(t *testing.T) {
	_, idx := buildImage(t)
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex {
		t.Errorf("index media type %s, want %s", mt, types.OCIImageIndex)
	}
	imgs := images(t, idx)
	var got []string
	for p := range imgs {
		got = append(got, p)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("platforms %v, want linux/amd64 and linux/arm64", got)
	}
	for p, img := range imgs {
		if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
			t.Errorf("%s: manifest media type %s", p, mt)
		}
		compressed, unpacked, err := Size(img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %.1f MB to pull, %.1f MB unpacked", p, float64(compressed)/1e6, float64(unpacked)/1e6)
		if compressed < 5e6 || compressed > 40e6 || unpacked > 80e6 {
			t.Errorf("%s: %d bytes compressed, %d unpacked: want a few tens of MB at most", p, compressed, unpacked)
		}
	}
}

// TestImageConfig: each image runs the binary as a non-root numeric user,
// with `serve` as the default command, the three ports, /data as a volume
// and the OCI labels, and needs no shell (exec-form entrypoint, no health
// check command).
func TestImageConfig(t *testing.T) {
	o, idx := buildImage(t)
	for p, img := range images(t, idx) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		plat, _ := v1.ParsePlatform(p)
		if cf.OS != plat.OS || cf.Architecture != plat.Architecture {
			t.Errorf("%s: config says %s/%s", p, cf.OS, cf.Architecture)
		}
		if c.User != User || strings.HasPrefix(c.User, "0") || c.User == "root" {
			t.Errorf("%s: user %q, want the non-root %q", p, c.User, User)
		}
		if !slices.Equal(c.Entrypoint, []string{Binary}) || !slices.Equal(c.Cmd, []string{"serve"}) {
			t.Errorf("%s: entrypoint %q cmd %q", p, c.Entrypoint, c.Cmd)
		}
		if len(c.Shell) > 0 || c.Healthcheck != nil {
			t.Errorf("%s: shell %q, healthcheck %v: the image has no shell", p, c.Shell, c.Healthcheck)
		}
		var ports []string
		for port := range c.ExposedPorts {
			ports = append(ports, port)
		}
		slices.Sort(ports)
		if !slices.Equal(ports, []string{"4222/tcp", "6222/tcp", "8080/tcp"}) {
			t.Errorf("%s: exposed ports %v", p, ports)
		}
		if _, ok := c.Volumes[DataDir]; !ok || c.WorkingDir != DataDir {
			t.Errorf("%s: volumes %v, working dir %q", p, c.Volumes, c.WorkingDir)
		}
		if !slices.Contains(c.Env, "STARLING_DATA="+DataDir) || !slices.Contains(c.Env, "SSL_CERT_FILE="+CACerts) {
			t.Errorf("%s: env %q", p, c.Env)
		}
		// (The revision is empty only outside a git checkout.)
		for k, want := range map[string]string{
			"org.opencontainers.image.version":  o.Version,
			"org.opencontainers.image.revision": o.Revision,
			"org.opencontainers.image.source":   SourceURL,
			"org.opencontainers.image.created":  o.Created.Format(time.RFC3339),
			"org.opencontainers.image.title":    "starling",
		} {
			if c.Labels[k] != want || want == "" && k != "org.opencontainers.image.revision" {
				t.Errorf("%s: label %s = %q, want %q", p, k, c.Labels[k], want)
			}
		}
		if !cf.Created.Time.Equal(o.Created) {
			t.Errorf("%s: created %v, want the commit's time %v", p, cf.Created, o.Created)
		}
	}
}

// file is one entry of an image's flattened file system.
type file struct {
	h    *tar.Header
	data []byte
}

func filesOf(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	out := map[string]file{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out["/"+strings.TrimSuffix(h.Name, "/")] = file{h, data}
	}
}

// TestImageFiles: the file system holds exactly the binary (static, for
// the image's architecture), the users, the root certificates and the
// writable directories — no shell, nothing else.
func TestImageFiles(t *testing.T) {
	_, idx := buildImage(t)
	machines := map[string]elf.Machine{"linux/amd64": elf.EM_X86_64, "linux/arm64": elf.EM_AARCH64}
	for p, img := range images(t, idx) {
		files := filesOf(t, img)
		var names []string
		for n := range files {
			names = append(names, n)
		}
		slices.Sort(names)
		want := []string{"/data", "/etc", "/etc/group", "/etc/nsswitch.conf", "/etc/passwd", "/etc/ssl", "/etc/ssl/certs",
			CACerts, "/tmp", "/usr", "/usr/bin", Binary}
		if !slices.Equal(names, want) {
			t.Errorf("%s: files %v, want exactly %v (no shell, no package manager)", p, names, want)
		}
		bin := files[Binary]
		if bin.h.Mode&0o111 == 0 || bin.h.Uid != 0 {
			t.Errorf("%s: %s mode %o owner %d", p, Binary, bin.h.Mode, bin.h.Uid)
		}
		ef, err := elf.NewFile(bytes.NewReader(bin.data))
		if err != nil {
			t.Fatalf("%s: the binary is not ELF: %v", p, err)
		}
		if ef.Machine != machines[p] {
			t.Errorf("%s: binary for %v", p, ef.Machine)
		}
		for _, prog := range ef.Progs {
			if prog.Type == elf.PT_INTERP || prog.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: the binary is dynamically linked (%v)", p, prog.Type)
			}
		}
		if d := files[DataDir]; d.h.Uid != UID || d.h.Gid != GID || d.h.Mode&0o700 != 0o700 {
			t.Errorf("%s: %s owned by %d:%d mode %o, want writable by %s", p, DataDir, d.h.Uid, d.h.Gid, d.h.Mode, User)
		}
		if tmp := files["/tmp"]; tmp.h.Mode&0o1777 != 0o1777 {
			t.Errorf("%s: /tmp mode %o", p, tmp.h.Mode)
		}
		if !strings.Contains(string(files["/etc/passwd"].data), "starling:x:65532:65532:") {
			t.Errorf("%s: /etc/passwd %q has no starling user", p, files["/etc/passwd"].data)
		}
		pool, n := x509.NewCertPool(), 0
		for rest := files[CACerts].data; ; {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatalf("%s: a root certificate does not parse: %v", p, err)
			}
			pool.AddCert(c)
			n++
		}
		if n < 100 {
			t.Errorf("%s: %d root certificates", p, n)
		}
	}
}

// TestImageBinaryRuns runs this machine's binary from the image: it
// prints the stamped version and accepts a clustered node's configuration
// with the image's environment.
func TestImageBinaryRuns(t *testing.T) {
	o, idx := buildImage(t)
	img, ok := images(t, idx)[runtime.GOOS+"/"+runtime.GOARCH]
	if !ok {
		t.Skipf("the image has no %s/%s binary to run here", runtime.GOOS, runtime.GOARCH)
	}
	bin := filepath.Join(t.TempDir(), "starling")
	if err := os.WriteFile(bin, filesOf(t, img)[Binary].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "starling "+o.Version+" ") {
		t.Errorf("starling version: %q %v, want version %s", out, err, o.Version)
	}
	cf, _ := img.ConfigFile()
	cmd := exec.Command(bin, "serve", "--check-config", "--node-name", "starling-0")
	cmd.Env = cf.Config.Env
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "data in "+DataDir) {
		t.Errorf("serve --check-config with the image's environment: %q %v", out, err)
	}
}

// TestImagePushAndPull pushes the index to an in-process registry and pulls
// it back by tag: same digest, every blob intact.
func TestImagePushAndPull(t *testing.T) {
	_, idx := buildImage(t)
	reg := httptest.NewServer(registry.New())
	defer reg.Close()
	ref := strings.TrimPrefix(reg.URL, "http://") + "/starling/starling:test"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := Push(ctx, ref, idx); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Index(r, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if got, _ := pulled.Digest(); got != want {
		t.Errorf("pulled %s, pushed %s", got, want)
	}
	if err := validate.Index(pulled); err != nil {
		t.Errorf("pulled index invalid: %v", err)
	}
	// A runtime on arm64 resolves the tag to the arm64 image.
	img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	if cf, _ := img.ConfigFile(); cf.Architecture != "arm64" {
		t.Errorf("resolved the tag for arm64 to a %s image", cf.Architecture)
	}
}

// TestImageLayoutAndArchive writes the OCI layout and archive that
// scripts/image writes and reads the layout back.
func TestImageLayoutAndArchive(t *testing.T) {
	o, idx := buildImage(t)
	dir := filepath.Join(t.TempDir(), "oci")
	if err := WriteLayout(dir, idx, o.Version); err != nil {
		t.Fatal(err)
	}
	outer, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := outer.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != o.Version {
		t.Fatalf("layout index %+v %v, want the image tagged %s", m, err, o.Version)
	}
	want, _ := idx.Digest()
	if m.Manifests[0].Digest != want {
		t.Errorf("layout holds %s, want %s", m.Manifests[0].Digest, want)
	}
	read, err := outer.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(read); err != nil {
		t.Errorf("the index read from the layout is invalid: %v", err)
	}
	archive := filepath.Join(t.TempDir(), "starling.tar")
	if err := WriteArchive(dir, archive, o.Created); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = true
	}
	for _, n := range []string{"oci-layout", "index.json", "blobs/sha256/" + want.Hex} {
		if !seen[n] {
			t.Errorf("the archive has no %s", n)
		}
	}
}

// TestImageReproducible builds again from the same commit: same digest.
func TestImageReproducible(t *testing.T) {
	o, idx := buildImage(t)
	o.BinDir = t.TempDir()
	o.Log = testLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	again, err := Build(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := idx.Digest()
	if b, _ := again.Digest(); a != b {
		t.Errorf("two builds of the same source: %s and %s", a, b)
	}
}
