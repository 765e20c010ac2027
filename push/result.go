package push

// Result is what a run did. On failure it holds the tags pushed before it,
// which stay pushed: each is complete.
type Result struct {
	// ImageID is the daemon's ID of the image (see Engines in the docs).
	ImageID string
	// Reused says an unchanged folder's image was taken without a build.
	Reused bool
	// Tags are the tags pushed, or with Push false, set in the daemon.
	Tags []Tag
	// Platforms are a multi-platform image's platforms and their
	// manifests' digests, in the index's order.
	Platforms []PlatformImage
	// SBOMs are the SBOM documents attached, each to its subject.
	SBOMs []Referrer
	// Provenance are the provenance statements attached as referrers
	// (without a key); Signatures and Attestations what was signed with
	// one, each the cosign image (.sig, .att) it is in.
	Provenance   []Referrer
	Signatures   []Referrer
	Attestations []Referrer
	// Outputs are the Outputs written, each KIND:PATH@DIGEST.
	Outputs []string
}

// PlatformImage is one platform of a multi-platform image.
type PlatformImage struct {
	Platform string `json:"platform"`
	Digest   string `json:"digest"`
}

// Tag is one tag of a run: its reference, and once pushed the manifest
// digest and the reference pinned to it.
type Tag struct {
	Reference string `json:"reference"`
	Digest    string `json:"digest,omitempty"`
	Pinned    string `json:"pinned,omitempty"`
}

// Referrer is an artifact attached to a pushed manifest or index.
type Referrer struct {
	Subject      string `json:"subject"`
	Digest       string `json:"digest"`
	ArtifactType string `json:"artifactType"`
}

// InputError marks a failure that is a mistake in the input, found only
// once the run began: the folder holds what cannot go in an image (a
// fifo, a file it may not read), or the daemon, asked what it is, keeps
// none of what was asked for (annotations on the classic store). Nothing
// was built or pushed; a front end reports it as it reports a bad flag.
type InputError struct{ Err error }

func (e InputError) Error() string { return e.Err.Error() }
func (e InputError) Unwrap() error { return e.Err }
