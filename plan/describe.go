package plan

import (
	"context"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/scratchpush/scratchpush/builder"
	"github.com/scratchpush/scratchpush/field"
	"github.com/scratchpush/scratchpush/source"
)

// describe adds what the OCI defines to say where an image comes from
// (org.opencontainers.image.source, .revision, .created, .version) as
// config labels and, where the manifest is made here, annotations, unless
// SourceInfo is none; and the annotations the input gives, which win. A
// label or annotation the input gives wins over a found one.
func (in Input) describe(ctx context.Context, o *Plan) error {
	annotations := map[string]string{}
	switch in.SourceInfo {
	case "", "auto":
		dir := o.Dir
		if len(o.Platforms) > 0 {
			dir = o.Platforms[0].Dir
		}
		o.Source = source.Detect(ctx, dir, in.LookupEnv)
		found := map[string]string{}
		if o.Source.URL != "" {
			found[ocispec.AnnotationSource] = o.Source.URL
		}
		if o.Source.Revision != "" {
			found[ocispec.AnnotationRevision] = o.Source.Revision
		}
		if v := tagVersion(o); v != "" {
			found[ocispec.AnnotationVersion] = v
		}
		var labels []builder.KeyValue
		for _, k := range []string{ocispec.AnnotationSource, ocispec.AnnotationRevision, ocispec.AnnotationVersion} {
			if v, ok := found[k]; ok {
				labels = append(labels, builder.KeyValue{Key: k, Value: v})
				annotations[k] = v
			}
		}
		// created is a label only when SOURCE_DATE_EPOCH fixes it: a
		// label of the time of each run would change the image each run.
		if in.SourceDateEpoch != "" {
			labels = append(labels, builder.KeyValue{Key: ocispec.AnnotationCreated, Value: o.Layout.ModTime.UTC().Format(time.RFC3339)})
		}
		annotations[ocispec.AnnotationCreated] = o.Created().UTC().Format(time.RFC3339)
		o.Spec.Labels = append(labels, o.Spec.Labels...)
	case "none":
	default:
		return field.Errorf("SourceInfo", "%q: give auto (the source, revision, created time and version the CI or the git checkout tells) or none", in.SourceInfo)
	}
	for _, a := range in.Annotations {
		kv, err := builder.ParseKeyValue(a)
		if err != nil {
			return field.Wrap("Annotations", err)
		}
		if err := checkAnnotation(kv); err != nil {
			return err
		}
		annotations[kv.Key] = kv.Value
	}
	o.Annotated = len(in.Annotations) > 0
	if len(annotations) > 0 {
		o.Layout.Annotations = annotations
	}
	return o.Spec.Check()
}

// versionTag is a tag that names a release: 1.2.3, v1.2, v2.0.0-rc.1; not
// v1, which is as often a moving tag as a version.
var versionTag = regexp.MustCompile(`^v?[0-9]+\.[0-9]+(\.[0-9]+)?([-+][0-9A-Za-z.+-]+)?$`)

// tagVersion is the first tag of the target that names a release, "" when
// none does.
func tagVersion(o *Plan) string {
	for _, t := range o.Target.Tags {
		if versionTag.MatchString(t.Tag()) {
			return t.Tag()
		}
	}
	return ""
}

// checkAnnotation refuses what tools reading a manifest choke on or
// misprint: invalid UTF-8 and control characters (a newline included).
func checkAnnotation(kv builder.KeyValue) error {
	for _, s := range []string{kv.Key, kv.Value} {
		if !utf8.ValidString(s) {
			return field.Errorf("Annotations", "%q is not valid UTF-8: give text", kv.Key+"="+kv.Value)
		}
		for _, r := range s {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
				return field.Errorf("Annotations", "%q holds control character %U: remove it", kv.Key+"="+kv.Value, r)
			}
		}
	}
	return nil
}
