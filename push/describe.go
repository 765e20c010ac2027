package push

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/scratchpush/scratchpush/daemon"
	"github.com/scratchpush/scratchpush/field"
)

// noteSource says where the labels of the source came from.
func noteSource(o run) {
	switch {
	case o.Source.Revision != "" && o.Source.URL != "":
		o.note("source %s at %s (from %s)", o.Source.URL, o.Source.Revision, o.Source.From)
	case o.Source.Revision != "" && o.Source.LocalOrigin != "":
		o.note("revision %s (from %s; its origin remote is a local path, %s, which names no source for the label)", o.Source.Revision, o.Source.From, o.Source.LocalOrigin)
	case o.Source.Revision != "":
		o.note("revision %s (from %s; it has no origin remote to name the source)", o.Source.Revision, o.Source.From)
	case o.Layout.Annotations != nil && o.Layout.Annotations[ocispec.AnnotationCreated] != "":
		o.note("no source or revision labels: no CI variables name the repository, and the folder is not in a git checkout")
	}
}

// checkAnnotated refuses annotations the input gives where the daemon
// makes the manifest it pushes, which would drop them: on the classic
// store and Podman, or with a builder named, unless pushed from here.
func checkAnnotated(o run) error {
	if !o.Annotated || o.PushesHere() {
		return nil
	}
	if o.daemon.Containerd && (o.Builder == daemon.BuilderAuto || o.Reproducible) {
		return nil
	}
	return field.Errorf("Annotations", "the daemon makes the manifest it pushes here and keeps no annotations: push from here with %s direct", field.Ref("PushVia"))
}
