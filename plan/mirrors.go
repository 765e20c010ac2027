package plan

import (
	"context"

	"github.com/distribution/reference"
	"github.com/scratchpush/scratchpush/auth"
	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/target"
)

// Mirror is another repository the image goes to, under the same tags:
// once the first repository has it, it is copied from there, blob by blob,
// with its SBOMs (registry.Copy), so it is built once.
type Mirror struct {
	Target target.Target
	// Credentials are the docker config's for the mirror's registry, or
	// the first repository's when it is on the same registry.
	Credentials auth.Credentials
}

// mirrors reads the repositories after the first; each error is about
// Mirrors.
func (in Input) mirrors(ctx context.Context, o Plan) ([]Mirror, error) {
	var out []Mirror
	seen := map[string]bool{}
	if o.Target.Repository != nil {
		seen[o.Target.Repository.Name()] = true
	}
	for _, v := range in.Mirrors {
		for _, repo := range builder.SplitList(v) {
			if !o.Push {
				return nil, field.Errorf("Mirrors", "%s: a second repository is pushed to: drop it, or push", repo)
			}
			var tags []string
			for _, t := range o.Target.Tags {
				tags = append(tags, t.Tag())
			}
			if in.Registry != "" && !target.NamesHost(repo) {
				return nil, field.Errorf("Mirrors", "%s names no registry, so it would go to Docker Hub, not to %s: write it with its host, e.g. %s/%s (or docker.io/%s for Docker Hub)", repo, o.Target.Host(), o.Target.Host(), repo, repo)
			}
			t, err := target.Parse("", repo, tags)
			if err != nil {
				return nil, field.Wrap("Mirrors", err)
			}
			if seen[t.Repository.Name()] {
				return nil, field.Errorf("Mirrors", "%s is given twice", reference.FamiliarName(t.Repository))
			}
			seen[t.Repository.Name()] = true
			m := Mirror{Target: t, Credentials: o.Credentials}
			if t.Host() != o.Target.Host() {
				if m.Credentials, err = auth.FromDockerConfig(ctx, "", t.Host()); err != nil {
					return nil, err
				}
			}
			out = append(out, m)
		}
	}
	return out, nil
}
