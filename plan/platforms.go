package plan

import (
	"context"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
)

// PlatformDir is one platform of a multi-platform image and the folder
// whose files make its image.
type PlatformDir struct {
	Platform ocispec.Platform
	Dir      string
}

type platformPair struct{ platform, dir string }

// platforms reads Input.Platforms: the one platform asked for ("" for
// none), or the PLATFORM=DIR pairs, never both.
func (in Input) platforms() (string, []platformPair, error) {
	var values []string
	for _, v := range in.Platforms {
		values = append(values, builder.SplitList(v)...)
	}
	var plain []string
	var pairs []platformPair
	for _, v := range values {
		platform, dir, ok := strings.Cut(v, "=")
		if !ok {
			plain = append(plain, v)
			continue
		}
		if dir == "" {
			return "", nil, field.Errorf("Platforms", "%q names no folder: give PLATFORM=DIR, e.g. linux/arm64=out/arm64", v)
		}
		if platform == "" {
			return "", nil, field.Errorf("Platforms", "%q names no platform: give PLATFORM=DIR, e.g. linux/arm64=%s", v, dir)
		}
		pairs = append(pairs, platformPair{platform, dir})
	}
	switch {
	case len(pairs) > 0 && len(plain) > 0:
		return "", nil, field.Errorf("Platforms", "%s has no folder while %s=%s has one: give every platform as PLATFORM=DIR", plain[0], pairs[0].platform, pairs[0].dir)
	case len(plain) > 1:
		return "", nil, field.Errorf("Platforms", "%s: several platforms need a folder each: give PLATFORM=DIR for each, e.g. linux/amd64=out/amd64 linux/arm64=out/arm64", strings.Join(plain, " "))
	case len(pairs) > 0 && in.Dir != "":
		return "", nil, field.Errorf("Dir", "%q given beside %s=%s: with PLATFORM=DIR the folders come from %s; drop DIR", in.Dir, pairs[0].platform, pairs[0].dir, field.Ref("Platforms"))
	case len(pairs) == 0 && in.Dir == "":
		return "", nil, field.Errorf("Dir", "missing: give the folder that holds the image's files, or PLATFORM=DIR pairs with %s", field.Ref("Platforms"))
	case len(plain) == 1:
		return plain[0], nil, nil
	}
	return "", pairs, nil
}

// checkPlatforms checks each platform's folder as Plan checks the one
// folder of an image, and that its program is built for that platform; it
// returns the platforms in the order given and the essentials, checked
// against every program.
func (in Input) checkPlatforms(ctx context.Context, o Plan, pairs []platformPair) ([]PlatformDir, builder.Essentials, error) {
	if o.Builder != daemon.BuilderAuto {
		return nil, builder.Essentials{}, field.Errorf("Builder", "does not apply to a multi-platform image: it is made here and loaded, not built by the daemon")
	}
	var out []PlatformDir
	var essentials builder.Essentials
	seen := map[string]string{}
	for _, p := range pairs {
		platform, err := parsePlatform(p.platform)
		if err != nil {
			return nil, essentials, err
		}
		name := builder.PlatformString(&platform)
		if dir, ok := seen[name]; ok {
			return nil, essentials, field.Errorf("Platforms", "%s is given twice (%s and %s): give each platform once", name, dir, p.dir)
		}
		seen[name] = p.dir
		if err := checkDir(p.dir); err != nil {
			return nil, essentials, field.Errorf("Platforms", "%s=%s: %s", p.platform, p.dir, field.Of(err).Message(nil))
		}
		prog, err := builder.Preflight(ctx, p.dir, o.Spec, in.AllowDynamic)
		if err != nil {
			return nil, essentials, fmt.Errorf("the folder for %s, %s: %w", name, p.dir, err)
		}
		if prog.Arch != "" && prog.Arch != platform.Architecture {
			return nil, essentials, field.Errorf("Platforms", "%s=%s: %s there is built for linux/%s, not %s: build it for %s, or pair the folder with linux/%s", p.platform, p.dir, prog.Path, prog.Arch, platform.Architecture, platform.Architecture, prog.Arch)
		}
		if essentials, err = in.essentials(prog); err != nil {
			return nil, essentials, fmt.Errorf("the folder for %s, %s: %w", name, p.dir, err)
		}
		out = append(out, PlatformDir{Platform: platform, Dir: p.dir})
	}
	return out, essentials, nil
}
