package builder

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/scratchpush/scratchpush/field"
)

// DefaultPath is the PATH docker build gives a FROM-scratch image that sets
// none; the runtime looks a bare program name up in it.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Preflight checks the options against the folder before anything is built:
// the working directory can be created, and the program the image runs is a
// file in the folder with an executable bit, since a scratch image holds
// nothing else that could run it. An ELF program that needs a dynamic
// loader the folder lacks is refused unless allowDynamic (see
// inspectProgram); its architecture is returned. Symbolic links are resolved
// inside the folder, as they will be inside the image, never on the host.
func Preflight(ctx context.Context, dir string, spec Spec, allowDynamic bool) (Program, error) {
	if err := ctx.Err(); err != nil {
		return Program{}, err
	}
	root, err := resolveRoot(dir)
	if err != nil {
		return Program{}, err
	}
	if _, err := missingDirs(root, spec.Workdir); err != nil {
		return Program{}, err
	}
	input, argv := "Cmd", spec.Cmd
	if len(spec.Entrypoint) > 0 {
		input, argv = "Entrypoint", spec.Entrypoint
	}
	if len(argv) == 0 {
		return Program{}, nil
	}
	return findProgram(root, input, argv[0], spec, allowDynamic)
}

func findProgram(root, input, prog string, spec Spec, allowDynamic bool) (Program, error) {
	wd := NormalizeWorkdir(spec.Workdir)
	if wd == "" {
		wd = "/"
	}
	var candidates []string
	inImage := func(p string) string {
		if path.IsAbs(p) {
			return path.Clean(p)
		}
		return path.Join(wd, p)
	}
	if strings.Contains(prog, "/") {
		candidates = []string{inImage(prog)}
	} else {
		for _, d := range strings.Split(imagePath(spec.Env), ":") {
			candidates = append(candidates, inImage(path.Join(d, prog)))
		}
	}
	for _, c := range candidates {
		host, err := securejoin.SecureJoin(root, c)
		if err != nil {
			return Program{}, field.Errorf(input, "resolving %q in the folder: %w", c, err)
		}
		fi, err := os.Stat(host)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			continue
		case err != nil:
			return Program{}, field.Errorf(input, "checking %q in the folder: %w", c, unwrapPathError(err))
		case fi.IsDir():
			return Program{}, field.Errorf(input, "%q is a folder, not a program: name the executable", c)
		case !fi.Mode().IsRegular():
			return Program{}, field.Errorf(input, "%q is not a regular file", c)
		case fi.Mode().Perm()&0o111 == 0:
			return Program{}, field.Errorf(input, "%q is not executable: chmod +x it in the folder", c)
		}
		return inspectProgram(root, host, c, input, fi.Mode(), allowDynamic)
	}
	if len(candidates) == 1 {
		return Program{}, field.Errorf(input, "%q is not in the folder (the image would look for %s): a scratch image holds nothing else to run; check the name and the folder", prog, candidates[0])
	}
	return Program{}, field.Errorf(input, "%q is not in the folder in any PATH directory (%s): a scratch image holds nothing else to run; give its path, e.g. ./%s", prog, imagePath(spec.Env), prog)
}

// imagePath is the PATH the program is looked up in: the image's, as
// imageEnv makes it.
func imagePath(env []KeyValue) string {
	path, _ := strings.CutPrefix(imageEnv(env)[0], "PATH=")
	return path
}
