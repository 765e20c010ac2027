// Package daemontest is a fake Engine API, named so, for unit tests of the
// code above package daemon: an in-memory daemon that loads image archives,
// tags, inspects, removes and "pushes" images, and counts what it was
// asked. It builds nothing (a run with Reproducible loads instead) and its
// pushes reach no registry; the integration suite runs the real engines.
package daemontest

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/scratchpush/scratchpush/daemon"
)

// Fake is the in-memory daemon. Set its fields before a run; read them
// after.
type Fake struct {
	// Containerd makes it act as Docker with the containerd image store:
	// docker info says so, it loads OCI layouts (an image or an index) and
	// names an image by its manifest's or index's digest, and it pushes
	// that digest. Otherwise it is the classic store: docker save
	// archives, images named by their config's digest.
	Containerd bool
	// Arch is the daemon's architecture; amd64 when empty.
	Arch string
	// PushError, when set, fails every push with this errorDetail.
	PushError string
	// LoginError, when set, is what the login endpoint returns.
	LoginError error

	mu     sync.Mutex
	images map[string]*fakeImage // by ID
	// Loads, Pushes, Logins and Described (version questions) count the
	// calls; Removed lists the image IDs removed, in order.
	Loads, Pushes, Logins, Described int
	Removed                          []string
}

type fakeImage struct {
	id     string
	tags   []string
	config []byte
}

var _ daemon.API = (*Fake)(nil)

// New returns an empty fake daemon.
func New() *Fake { return &Fake{images: map[string]*fakeImage{}} }

// Engine is the fake as a run opens it.
func (f *Fake) Engine(context.Context) (daemon.API, error) { return f, nil }

// AddImage puts an image with the given tags in the daemon, as an earlier
// build would have.
func (f *Fake) AddImage(id string, tags ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[id] = &fakeImage{id: id}
	for _, t := range tags {
		f.tagLocked(id, t)
	}
}

// ImageOf is the ID the tag names, or "".
func (f *Fake) ImageOf(tag string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img := f.findLocked(tag); img != nil {
		return img.id
	}
	return ""
}

// Config is the loaded image's config, or nil.
func (f *Fake) Config(id string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img := f.images[id]; img != nil {
		return img.config
	}
	return nil
}

// Images lists the image IDs the daemon holds.
func (f *Fake) Images() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id := range f.images {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (f *Fake) findLocked(ref string) *fakeImage {
	if img := f.images[ref]; img != nil {
		return img
	}
	for _, img := range f.images {
		if slices.Contains(img.tags, ref) {
			return img
		}
	}
	return nil
}

func (f *Fake) tagLocked(id, tag string) {
	for _, img := range f.images {
		img.tags = slices.DeleteFunc(img.tags, func(t string) bool { return t == tag })
	}
	f.images[id].tags = append(f.images[id].tags, tag)
}

func notFound(ref string) error {
	return fmt.Errorf("fake daemon: no such image: %s: %w", ref, cerrdefs.ErrNotFound)
}

func (f *Fake) Ping(context.Context, client.PingOptions) (client.PingResult, error) {
	return client.PingResult{}, nil
}

func (f *Fake) ImageBuild(context.Context, io.Reader, client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return client.ImageBuildResult{}, errors.New("the fake daemon builds nothing: make the image with Reproducible")
}

func (f *Fake) ImageTag(_ context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.findLocked(o.Source)
	if img == nil {
		return client.ImageTagResult{}, notFound(o.Source)
	}
	f.tagLocked(img.id, o.Target)
	return client.ImageTagResult{}, nil
}

func (f *Fake) ImageInspect(_ context.Context, ref string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.findLocked(ref)
	if img == nil {
		return client.ImageInspectResult{}, notFound(ref)
	}
	var r client.ImageInspectResult
	r.ID, r.RepoTags, r.Os, r.Architecture = img.id, slices.Clone(img.tags), "linux", f.arch()
	r.Created = "2023-11-14T22:13:20Z" // an image added, not loaded
	var config struct {
		Created      string
		Architecture string
		RootFS       struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if json.Unmarshal(img.config, &config) == nil {
		if config.Created != "" {
			r.Created = config.Created
		}
		if config.Architecture != "" {
			r.Architecture = config.Architecture
		}
		r.RootFS.Layers = config.RootFS.DiffIDs
	}
	return r, nil
}

func (f *Fake) ImageRemove(_ context.Context, ref string, _ client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	img := f.findLocked(ref)
	if img == nil {
		return client.ImageRemoveResult{}, notFound(ref)
	}
	if ref != img.id && len(img.tags) > 1 {
		img.tags = slices.DeleteFunc(img.tags, func(t string) bool { return t == ref })
		return client.ImageRemoveResult{}, nil
	}
	delete(f.images, img.id)
	f.Removed = append(f.Removed, img.id)
	return client.ImageRemoveResult{}, nil
}

func (f *Fake) RegistryLogin(context.Context, client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Logins++
	return client.RegistryLoginResult{}, f.LoginError
}

func (f *Fake) BuildCancel(context.Context, string, client.BuildCancelOptions) (client.BuildCancelResult, error) {
	return client.BuildCancelResult{}, nil
}

// ImageLoad reads a docker save archive (as builder.WriteImage writes it)
// and holds the image under its config's digest, as the classic store does.
func (f *Fake) ImageLoad(_ context.Context, r io.Reader, _ ...client.ImageLoadOption) (client.ImageLoadResult, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("fake daemon: reading the archive: %w", err)
		}
		if strings.HasSuffix(h.Name, ".json") || strings.HasPrefix(h.Name, "blobs/") && h.Size < 1<<20 {
			b, err := io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			files[h.Name] = b
		}
	}
	var id string
	var config []byte
	if f.Containerd {
		var err error
		if id, config, err = ociImage(files); err != nil {
			return nil, err
		}
	} else {
		var manifest []struct{ Config string }
		if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
			return nil, fmt.Errorf("fake daemon: the archive's manifest.json: %v", err)
		}
		config = files[manifest[0].Config]
		id = fmt.Sprintf("sha256:%x", sha256.Sum256(config))
	}
	f.mu.Lock()
	f.Loads++
	f.images[id] = &fakeImage{id: id, config: config}
	f.mu.Unlock()
	return stream(jsonstream.Message{Stream: "Loaded image ID: " + id + "\n"}), nil
}

func (f *Fake) ImagePush(_ context.Context, ref string, _ client.ImagePushOptions) (client.ImagePushResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Pushes++
	img := f.findLocked(ref)
	if img == nil {
		return nil, notFound(ref)
	}
	if f.PushError != "" {
		return stream(jsonstream.Message{Error: &jsonstream.Error{Message: f.PushError}}), nil
	}
	tag := ref[strings.LastIndex(ref, ":")+1:]
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte(img.id)))
	if f.Containerd {
		digest = img.id // the store pushes the manifest it holds
	}
	return stream(jsonstream.Message{Status: fmt.Sprintf("%s: digest: %s size: 1", tag, digest)}), nil
}

func (f *Fake) arch() string {
	if f.Arch == "" {
		return "amd64"
	}
	return f.Arch
}

func (f *Fake) ServerVersion(context.Context, client.ServerVersionOptions) (client.ServerVersionResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Described++
	return client.ServerVersionResult{Os: "linux", Arch: f.arch(), Version: "fake", APIVersion: "1.41"}, nil
}

func (f *Fake) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	info := system.Info{NCPU: 2, Driver: "fake"}
	if f.Containerd {
		info.DriverStatus = [][2]string{{"driver-type", "io.containerd.snapshotter.v1"}}
	}
	return client.SystemInfoResult{Info: info}, nil
}

// DiskUsage lists an empty build cache: the fake builds nothing.
func (f *Fake) DiskUsage(context.Context, client.DiskUsageOptions) (client.DiskUsageResult, error) {
	return client.DiskUsageResult{}, nil
}

func (f *Fake) BuildCachePrune(context.Context, client.BuildCachePruneOptions) (client.BuildCachePruneResult, error) {
	return client.BuildCachePruneResult{}, nil
}

// messages is a canned JSON message stream, readable as the client's
// load and push answers are.
type messages struct{ io.ReadCloser }

func stream(ms ...jsonstream.Message) messages {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, m := range ms {
		_ = enc.Encode(m)
	}
	return messages{io.NopCloser(strings.NewReader(b.String()))}
}

func (m messages) JSONMessages(context.Context) iter.Seq2[jsonstream.Message, error] {
	return func(yield func(jsonstream.Message, error) bool) {
		dec := json.NewDecoder(m)
		for {
			var msg jsonstream.Message
			err := dec.Decode(&msg)
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(msg, err) || err != nil {
				return
			}
		}
	}
}

func (m messages) Wait(ctx context.Context) error {
	for _, err := range m.JSONMessages(ctx) {
		if err != nil {
			return err
		}
	}
	return nil
}

// ociImage reads an OCI layout's index.json, as the containerd store loads
// it: the image is named by the digest of what index.json lists first, a
// manifest or an index; config is a manifest's config (nil for an index).
func ociImage(files map[string][]byte) (id string, config []byte, err error) {
	var index struct {
		Manifests []struct {
			MediaType string
			Digest    string
		}
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) == 0 {
		return "", nil, fmt.Errorf("fake daemon: the layout's index.json: %v", err)
	}
	top := index.Manifests[0]
	blob := func(d string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	if strings.Contains(top.MediaType, "index") {
		return top.Digest, nil, nil
	}
	var m struct{ Config struct{ Digest string } }
	if err := json.Unmarshal(blob(top.Digest), &m); err != nil {
		return "", nil, fmt.Errorf("fake daemon: the manifest %s: %v", top.Digest, err)
	}
	return top.Digest, blob(m.Config.Digest), nil
}
