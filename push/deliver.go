package push

import (
	"context"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/registry"
)

// Deliver: the image made goes to each destination, in this order, each
// step after the one before has succeeded:
//   - the Outputs (files), first, so that the registry gets what they hold;
//   - the registry, from here (a push from here, several platforms),
//     while the daemon gets its copy (loaded, or the load begun while
//     making finished and checked);
//   - the daemon's tags, and the daemon's push when it pushes;
//   - the SBOMs, attached to what was pushed; the mirrors; the result
//     files.
// A failure after the tags are set puts them back and removes what the
// run made, so the daemon is left as it was found; tags pushed stay
// pushed, and the Result names them.

// deliver delivers m; api is nil for a run that only writes files.
func deliver(ctx context.Context, api daemon.API, o run, m made, res Result, registryOpts daemon.RegistryOptions) (Result, error) {
	res.Reused = m.reused
	if o.Provenance {
		m.fileDigests = m.folders()
	}
	var up *upload
	var sboms *sbomJob
	// done: delivered; keepLocal: failed, but the daemon's image and tags
	// name what the first registry holds, and stay.
	done, keepLocal := false, false
	undo := func(context.Context) {}
	defer func() {
		sboms.stop()
		up.stop()
		switch {
		case done && m.remember != nil:
			m.remember(m.built.ID)
		case !done && !keepLocal && api != nil:
			undo(ctx)
			m.discard(ctx, api)
		}
		m.layers.remove()
	}()

	if len(o.Outputs) > 0 {
		docs, err := writeOutputs(ctx, o, m)
		if err != nil {
			return res, err
		}
		m.sboms = docs
		res.Outputs = written(o, m.digest())
	}
	if api == nil {
		done = true
		return res, nil
	}

	if o.Push && (o.Direct || m.index != nil) {
		what := "manifest"
		if m.index != nil {
			what = "index"
		}
		if m.built.ID == "" {
			o.note("pushing %s %s from here while the daemon loads it", what, m.digest())
		} else {
			o.note("pushing %s %s from here", what, m.digest())
		}
		up = startUpload(ctx, o, func(ctx context.Context, c *registry.Client) ([]string, error) {
			if m.index != nil {
				return c.PushIndex(ctx, *m.index, o.Target.Tags)
			}
			return c.Push(ctx, *m.image, o.Target.Tags)
		})
	}
	sboms = startSBOM(ctx, api, o, m) // while the upload goes and the daemon loads
	if up != nil {
		go prepareProvenance(ctx, o, m)
	}
	var err error
	if m.built, err = toDaemon(ctx, api, o, m); err != nil {
		res.Tags = pushedTags(o.Target.Tags, up.stop())
		return res, err
	}
	res.ImageID = m.built.ID
	if o.Target.Repository != nil {
		u, err := daemon.Tag(ctx, api, m.built.ID, o.Target.Tags) // a failed Tag undoes itself
		if err != nil {
			res.Tags = pushedTags(o.Target.Tags, up.stop())
			return res, err
		}
		undo = u
	}
	switch {
	case !o.Push:
		for _, ref := range o.Target.Tags {
			o.note("tagged %s", reference.FamiliarString(ref))
			res.Tags = append(res.Tags, Tag{Reference: reference.FamiliarString(ref)})
		}
	case up != nil:
		digests, err := up.wait()
		res.Tags = pushedTags(o.Target.Tags, digests)
		if err != nil {
			return res, explainRegistry(err, o)
		}
		for i, d := range digests { // as the daemon's push says it
			o.note("%s: digest: %s size: %d", o.Target.Tags[i].Tag(), d, m.size())
		}
	default:
		for _, ref := range o.Target.Tags {
			if desc, ok := alreadyThere(ctx, o, m, ref); ok {
				res.Tags = append(res.Tags, pushedTag(ref, desc.Digest.String()))
				m.there = &desc
				continue
			}
			if err := o.credentials.wait(); err != nil {
				return res, err
			}
			digest, err := daemon.Push(ctx, api, ref, o.Credentials, o.credentials.registryOptions(registryOpts))
			if err != nil {
				return res, explainRegistry(err, o)
			}
			res.Tags = append(res.Tags, pushedTag(ref, digest))
		}
	}
	if err := sboms.attach(ctx, o, m, &res); err != nil {
		return res, err
	}
	var docs map[string][]byte
	if sboms != nil {
		docs = sboms.docs
	}
	if err := attest(ctx, o, m, &res, docs); err != nil {
		return res, err
	}
	if err := pushMirrors(ctx, o, &res); err != nil {
		keepLocal = true // the first repository has the image
		return res, err
	}
	if err := writeFiles(ctx, api, o.daemon, o.Files, res); err != nil {
		return res, err
	}
	if sboms != nil && sboms.made && m.keepSBOM != nil {
		m.keepSBOM(sboms.docs[""])
	}
	if o.Push && up == nil && len(res.Tags) > 0 && m.keepPushed != nil { // the daemon's push (or a tag put here)
		m.keepPushed(digest.Digest(res.Tags[0].Digest))
	}
	done = true
	return res, nil
}

// size is the size of what digest names: the index's or the manifest's.
func (m made) size() int64 {
	switch {
	case m.index != nil:
		return m.index.Descriptor().Size
	case m.image != nil:
		return m.image.Descriptor.Size
	}
	return 0
}

// digest is what names the image made: the index's or the manifest's
// digest; "" for an image the daemon made.
func (m made) digest() string {
	switch {
	case m.index != nil:
		return m.index.Digest.String()
	case m.image != nil:
		return m.image.Made.Manifest.String()
	}
	return ""
}

// toDaemon gives the daemon its copy of m, unless it has one: the load
// begun while making, ended and checked; or the blobs made here (the
// containerd store), or for an index on a store that holds one platform
// an image, the image of the daemon's platform, else the first.
func toDaemon(ctx context.Context, api daemon.API, o run, m made) (daemon.Built, error) {
	switch {
	case m.built.ID != "":
		return m.built, nil
	case m.loading != nil:
		return m.loading.wait(ctx, api, m.image.Made)
	case m.index != nil && o.daemon.Containerd:
		made := builder.Made{Manifest: m.index.Digest} // the store names it by the index
		return loadChecked(ctx, api, newSending(m.index.Archive(), "image", "the image", m.index.Size(), o.progress), made)
	case m.index != nil:
		_, host := o.imagePlatform()
		img := m.index.Images[0]
		for _, i := range m.index.Images {
			if samePlatform(*i.Descriptor.Platform, host) {
				img = i
				break
			}
		}
		others := "the registry gets every platform"
		if !o.Push {
			others = "without a push the others are kept nowhere"
		}
		o.note("the daemon's image store holds one platform an image: it gets %s; %s", builder.PlatformString(img.Descriptor.Platform), others)
		return loadChecked(ctx, api, newSending(img.Archive(), "image", "the image", img.Size(), o.progress), img.Made)
	default:
		return loadChecked(ctx, api, newSending(m.image.Archive(), "image", "the image", m.image.Size(), o.progress), m.image.Made)
	}
}

// pushedTags names the tags of refs pushed, one digest for each tag in
// order.
func pushedTags(refs []reference.NamedTagged, digests []string) []Tag {
	var tags []Tag
	for i, digest := range digests {
		tags = append(tags, pushedTag(refs[i], digest))
	}
	return tags
}

// pushedTag is ref pushed as digest, and pinned to it.
func pushedTag(ref reference.NamedTagged, digest string) Tag {
	return Tag{reference.FamiliarString(ref), digest, reference.FamiliarName(ref) + "@" + digest}
}

// thereWithin bounds how long a run asks the registry from here whether a
// tag names its reused image already, before its daemon pushes it: the
// registry may be one only the daemon reaches.
const thereWithin = 2 * time.Second

// alreadyThere says whether the registry has m's image under ref already,
// for an image reused on the daemon's path (one made now is new): then
// the daemon has nothing to push, and the tag's manifest is returned. The
// registry is asked from here, for the tag and, at once, for the digest
// the image was last pushed as to this repository (m.lastPushed, from the
// records, believed only when the registry's manifest of that digest is
// the image): a tag that names another manifest is put to name that one.
// An unchanged image costs a GET or two and a put, where the daemon's push
// costs its handshake, a HEAD per blob and the manifest's put; anything
// but a clear yes leaves the push to the daemon.
func alreadyThere(ctx context.Context, o run, m made, ref reference.NamedTagged) (ocispec.Descriptor, bool) {
	if !m.reused {
		return ocispec.Descriptor{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, thereWithin)
	defer cancel()
	client := o.registry()
	is := func(desc ocispec.Descriptor, config digest.Digest) bool {
		return config.String() == m.built.ID || desc.Digest.String() == m.built.ID
	}
	type read struct {
		body   []byte
		desc   ocispec.Descriptor
		config digest.Digest
		err    error
	}
	var tagged, last read
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tagged.body, tagged.desc, tagged.config, tagged.err = client.Manifest(ctx, ref, ref.Tag())
	}()
	if m.lastPushed != "" {
		last.body, last.desc, last.config, last.err = client.Manifest(ctx, ref, m.lastPushed.String())
	}
	wg.Wait()
	switch {
	case tagged.err == nil && is(tagged.desc, tagged.config):
		o.note("%s names image %s already: nothing to push", reference.FamiliarString(ref), m.built.ID)
		return tagged.desc, true
	case m.lastPushed != "" && last.err == nil && is(last.desc, last.config):
		if err := client.Tag(ctx, ref, last.desc.MediaType, last.body); err != nil {
			return ocispec.Descriptor{}, false
		}
		o.note("the registry holds image %s already, as %s: tagged it %s, nothing to push", m.built.ID, last.desc.Digest, reference.FamiliarString(ref))
		return last.desc, true
	}
	return ocispec.Descriptor{}, false
}
