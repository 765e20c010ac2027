package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// fakeAPI is a fake Engine API: one function field per call, as docker/cli's
// tests do. It lets unit tests feed the stream decoders daemon answers that a
// real daemon gives only in failure (errorDetail, truncated streams).
type fakeAPI struct {
	build   func(ctx context.Context, r io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error)
	tag     func(ctx context.Context, o client.ImageTagOptions) (client.ImageTagResult, error)
	push    func(ctx context.Context, image string, o client.ImagePushOptions) (client.ImagePushResponse, error)
	inspect func(ctx context.Context, image string) (client.ImageInspectResult, error)
	remove  func(ctx context.Context, image string, o client.ImageRemoveOptions) (client.ImageRemoveResult, error)
	login   func(ctx context.Context, o client.RegistryLoginOptions) (client.RegistryLoginResult, error)
	load    func(ctx context.Context, r io.Reader) (client.ImageLoadResult, error)
	info    *system.Info // nil: the info call fails
	cancels []string
	podman  bool // answer the version call as Podman's service does
	// cache is the build cache the disk-usage call lists; pruned gets the
	// ID each prune call names, which leaves the cache. released names
	// records in use that the daemon lets go of after the first listing.
	cache    []build.CacheRecord
	pruned   []string
	released map[string]bool
	listings int
}

func (f *fakeAPI) Ping(context.Context, client.PingOptions) (client.PingResult, error) {
	return client.PingResult{}, nil
}

func (f *fakeAPI) ImageBuild(ctx context.Context, r io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return f.build(ctx, r, o)
}

func (f *fakeAPI) ImageTag(ctx context.Context, o client.ImageTagOptions) (client.ImageTagResult, error) {
	return f.tag(ctx, o)
}

func (f *fakeAPI) ImagePush(ctx context.Context, image string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
	return f.push(ctx, image, o)
}

func (f *fakeAPI) ImageInspect(ctx context.Context, image string, _ ...client.ImageInspectOption) (client.ImageInspectResult, error) {
	return f.inspect(ctx, image)
}

func (f *fakeAPI) ImageRemove(ctx context.Context, image string, o client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	return f.remove(ctx, image, o)
}

func (f *fakeAPI) RegistryLogin(ctx context.Context, o client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
	return f.login(ctx, o)
}

func (f *fakeAPI) BuildCancel(_ context.Context, id string, _ client.BuildCancelOptions) (client.BuildCancelResult, error) {
	f.cancels = append(f.cancels, id)
	return client.BuildCancelResult{}, nil
}

func (f *fakeAPI) ImageLoad(ctx context.Context, r io.Reader, _ ...client.ImageLoadOption) (client.ImageLoadResult, error) {
	if f.load == nil {
		return nil, errors.New("the fake does not load images")
	}
	return f.load(ctx, r)
}

func (f *fakeAPI) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	if f.info == nil {
		return client.SystemInfoResult{}, errors.New("fake: no info")
	}
	return client.SystemInfoResult{Info: *f.info}, nil
}

func (f *fakeAPI) DiskUsage(context.Context, client.DiskUsageOptions) (client.DiskUsageResult, error) {
	items := slices.Clone(f.cache)
	if f.listings++; f.listings > 1 {
		for i := range items {
			items[i].InUse = items[i].InUse && !f.released[items[i].ID]
		}
	}
	return client.DiskUsageResult{BuildCache: client.BuildCacheDiskUsage{Items: items}}, nil
}

func (f *fakeAPI) BuildCachePrune(_ context.Context, o client.BuildCachePruneOptions) (client.BuildCachePruneResult, error) {
	for id := range o.Filters["id"] {
		f.pruned = append(f.pruned, id)
		f.cache = slices.DeleteFunc(f.cache, func(r build.CacheRecord) bool { return r.ID == id })
	}
	return client.BuildCachePruneResult{}, nil
}

func (f *fakeAPI) ServerVersion(context.Context, client.ServerVersionOptions) (client.ServerVersionResult, error) {
	v := client.ServerVersionResult{Os: "linux", Arch: "amd64"}
	if f.podman {
		v.Components = append(v.Components, system.ComponentVersion{Name: "Podman Engine", Version: "4.3.1"})
	}
	return v, nil
}

// fakePushResponse decodes a canned JSON message stream like the client's.
type fakePushResponse struct{ io.ReadCloser }

func newFakePushResponse(stream string) fakePushResponse {
	return fakePushResponse{io.NopCloser(strings.NewReader(stream))}
}

func (f fakePushResponse) JSONMessages(ctx context.Context) iter.Seq2[jsonstream.Message, error] {
	return func(yield func(jsonstream.Message, error) bool) {
		dec := json.NewDecoder(f)
		for {
			var m jsonstream.Message
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(m, err) || err != nil {
				return
			}
		}
	}
}

func (f fakePushResponse) Wait(ctx context.Context) error {
	for _, err := range f.JSONMessages(ctx) {
		if err != nil {
			return err
		}
	}
	return nil
}
