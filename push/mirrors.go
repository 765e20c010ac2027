package push

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/registry"
	"github.com/scratchpush/scratchpush/sign"
)

// pushMirrors copies the pushed image, and the SBOMs attached to it, from
// the first repository to every mirror. A mirror that fails does not stop
// the others; the error names each that failed, after the tags pushed.
func pushMirrors(ctx context.Context, o run, res *Result) error {
	if len(o.Mirrors) == 0 || len(res.Tags) == 0 {
		return nil
	}
	pushed := digest.Digest(res.Tags[0].Digest)
	from := o.registry()
	src, err := reference.WithDigest(o.Target.Repository, pushed)
	if err != nil {
		return fmt.Errorf("naming the pushed image: %w", err)
	}
	var failed mirrorErrors
	for _, m := range o.Mirrors {
		to := o.registryFor(m.Credentials, m.Target.Scheme)
		name := reference.FamiliarName(m.Target.Repository)
		digests, err := from.Copy(ctx, src, to, m.Target.Repository, m.Target.Tags)
		res.Tags = append(res.Tags, pushedTags(m.Target.Tags, digests)...)
		// The referrers (the SBOMs, the provenance) by their digests,
		// each brought into the mirror's referrers; cosign's images
		// (signatures, attestations) under their tags, as cosign copy
		// copies them.
		for _, r := range append(append([]Referrer{}, res.SBOMs...), res.Provenance...) {
			if err != nil {
				break
			}
			err = copyArtifact(ctx, o, from, to, m.Target.Repository, r.Digest, "")
		}
		copied := map[string]bool{}
		for _, r := range append(append([]Referrer{}, res.Signatures...), res.Attestations...) {
			if err != nil {
				break
			}
			if copied[r.Digest] {
				continue
			}
			copied[r.Digest] = true
			suffix := registry.AttestationSuffix
			if r.ArtifactType == sign.SimpleSigningType {
				suffix = registry.SignatureSuffix
			}
			err = copyArtifact(ctx, o, from, to, m.Target.Repository, r.Digest, registry.CosignTag(digest.Digest(r.Subject), suffix))
		}
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			switch {
			case errors.Is(err, auth.ErrAuth):
				err = fmt.Errorf("%w; log in to it first: docker login %s", err, m.Target.Host())
			case errors.Is(err, auth.ErrDenied):
				err = fmt.Errorf("%w; check that the credentials for %s may push to %s", err, m.Target.Host(), name)
			}
			failed = append(failed, mirrorError{name, err})
			continue
		}
		o.note("copied %s to %s", pushed, name)
	}
	if len(failed) > 0 {
		return field.Errorf("Mirrors", "pushed to %s, but not to %w", reference.FamiliarName(o.Target.Repository), failed)
	}
	return nil
}

// mirrorError is a mirror that did not get the image, and why.
type mirrorError struct {
	name string
	err  error
}

// mirrorErrors says each mirror that failed, on one line, and keeps each
// cause for errors.Is (a refusal of the credentials is auth.ErrAuth).
type mirrorErrors []mirrorError

func (e mirrorErrors) Error() string {
	var parts []string
	for _, m := range e {
		parts = append(parts, fmt.Sprintf("%s (%v)", m.name, m.err))
	}
	return strings.Join(parts, "; ")
}

func (e mirrorErrors) Unwrap() []error {
	var errs []error
	for _, m := range e {
		errs = append(errs, m.err)
	}
	return errs
}

// copyArtifact copies what d names in the target's repository to repo of
// another registry, under tag when one is given.
func copyArtifact(ctx context.Context, o run, from, to *registry.Client, repo reference.Named, d, tag string) error {
	ref, err := reference.WithDigest(o.Target.Repository, digest.Digest(d))
	if err != nil {
		return err
	}
	var tags []reference.NamedTagged
	if tag != "" {
		tagged, err := reference.WithTag(repo, tag)
		if err != nil {
			return err
		}
		tags = append(tags, tagged)
	}
	if _, err := from.Copy(ctx, ref, to, repo, tags); err != nil {
		return fmt.Errorf("copying %s: %w", d, err)
	}
	return nil
}
