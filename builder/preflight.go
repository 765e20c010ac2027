package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
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
	flag, argv := "--cmd", spec.Cmd
	if len(spec.Entrypoint) > 0 {
		flag, argv = "--entrypoint", spec.Entrypoint
	}
	if len(argv) == 0 {
		return Program{}, nil
	}
	return findProgram(root, flag, argv[0], spec, allowDynamic)
}

func findProgram(root, flag, prog string, spec Spec, allowDynamic bool) (Program, error) {
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
			return Program{}, fmt.Errorf("%s: resolving %q in the folder: %w", flag, c, err)
		}
		fi, err := os.Stat(host)
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			continue
		case err != nil:
			return Program{}, fmt.Errorf("%s: checking %q in the folder: %w", flag, c, unwrapPathError(err))
		case fi.IsDir():
			return Program{}, fmt.Errorf("%s: %q is a folder, not a program: name the executable", flag, c)
		case !fi.Mode().IsRegular():
			return Program{}, fmt.Errorf("%s: %q is not a regular file", flag, c)
		case fi.Mode().Perm()&0o111 == 0:
			return Program{}, fmt.Errorf("%s: %q is not executable: chmod +x it in the folder", flag, c)
		}
		return inspectProgram(root, host, c, flag, fi.Mode(), allowDynamic)
	}
	if len(candidates) == 1 {
		return Program{}, fmt.Errorf("%s: %q is not in the folder (the image would look for %s): a scratch image holds nothing else to run; check the name and the folder", flag, prog, candidates[0])
	}
	return Program{}, fmt.Errorf("%s: %q is not in the folder in any PATH directory (%s): a scratch image holds nothing else to run; give its path, e.g. ./%s", flag, prog, imagePath(spec.Env), prog)
}

// imagePath is the PATH the program is looked up in: the image's, as
// imageEnv makes it.
func imagePath(env []KeyValue) string {
	path, _ := strings.CutPrefix(imageEnv(env)[0], "PATH=")
	return path
}
