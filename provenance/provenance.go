// Package provenance says how an image was made as an SLSA v1 provenance
// statement (in-toto Statement v1): who made it (scratch-push and its
// version), from what (the folder's digest, the source repository and
// revision the source labels name) and with which parameters (the
// command, ports, the environment's names — never its values, which may
// be secret — the essentials added, the platforms). It is written with
// structs of its own, the specifications' fields by their JSON names; the
// in-toto project's Go types (in-toto/attestation) check it in the tests.
// Those types are protobuf messages: linked in, they would bring
// protobuf's runtime and add 1.9 MB (17 %) to the binary for a document
// of a few fields.
//
// The statement holds no clock: the same image made of the same folder
// with the same parameters gets the same statement, as its SBOM does, so
// that pushing it again attaches nothing new.
package provenance

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/opencontainers/go-digest"
)

// PredicateType is SLSA v1 provenance's, which cosign verify-attestation
// --type slsaprovenance1 asks for; StatementType in-toto's Statement v1.
const (
	PredicateType = "https://slsa.dev/provenance/v1"
	StatementType = "https://in-toto.io/Statement/v1"
)

// BuildType names how scratch-push builds, for the statement's readers:
// a folder made into a FROM-scratch image with the parameters given.
const BuildType = "https://github.com/scratchpush/scratchpush/blob/main/docs/provenance.md#build-type-v1"

// builderID names scratch-push as the builder.
const builderID = "https://github.com/scratchpush/scratchpush/cmd/scratch-push"

// Subject is what the statement is about: a manifest or index pushed.
type Subject struct {
	Name   string // the repository, e.g. ghcr.io/team/app
	Digest digest.Digest
}

// Source is the revision of the repository the folder was built from, as
// the source labels name it; empty when none is known.
type Source struct {
	URL, Revision string
}

// Input is what the statement says.
type Input struct {
	Subjects []Subject
	// Tool is the builder's version, e.g. "scratch-push v1.2.0".
	Tool string
	// Parameters are the build's external parameters: what the user gave
	// that shaped the image (no secret values).
	Parameters map[string]any
	// Internal are parameters of scratch-push's own choosing (how it made
	// and pushed the image).
	Internal map[string]any
	// Folders are the digests of the folders' files (builder.Catalog's),
	// by platform ("" for a single image).
	Folders map[string]digest.Digest
	Source  Source
	// InvocationID names the run where a CI system gives one (a run URL).
	InvocationID string
}

// statement is an in-toto Statement v1 of SLSA v1 provenance, with the
// fields of the specifications (in-toto/attestation's
// statement.proto and provenance.proto) as JSON names them.
type statement struct {
	Type          string        `json:"_type"`
	Subject       []resource    `json:"subject"`
	PredicateType string        `json:"predicateType"`
	Predicate     slsaPredicate `json:"predicate"`
}

type resource struct {
	Name   string            `json:"name,omitempty"`
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
}

type slsaPredicate struct {
	BuildDefinition struct {
		BuildType            string         `json:"buildType"`
		ExternalParameters   map[string]any `json:"externalParameters"`
		InternalParameters   map[string]any `json:"internalParameters,omitempty"`
		ResolvedDependencies []resource     `json:"resolvedDependencies,omitempty"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder struct {
			ID      string            `json:"id"`
			Version map[string]string `json:"version,omitempty"`
		} `json:"builder"`
		Metadata *struct {
			InvocationID string `json:"invocationId,omitempty"`
		} `json:"metadata,omitempty"`
	} `json:"runDetails"`
}

// Statement is the in-toto statement of in's SLSA v1 provenance, as JSON.
func Statement(in Input) ([]byte, error) {
	if len(in.Subjects) == 0 {
		return nil, fmt.Errorf("the provenance names no subject")
	}
	st := statement{Type: StatementType, PredicateType: PredicateType}
	for _, s := range in.Subjects {
		if err := s.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("the provenance's subject %s: %w", s.Name, err)
		}
		st.Subject = append(st.Subject, resource{Name: s.Name, Digest: digestMap(s.Digest)})
	}
	def := &st.Predicate.BuildDefinition
	def.BuildType = BuildType
	def.ExternalParameters = in.Parameters
	if def.ExternalParameters == nil {
		def.ExternalParameters = map[string]any{}
	}
	def.InternalParameters = in.Internal
	if in.Source.URL != "" && in.Source.Revision != "" {
		def.ResolvedDependencies = append(def.ResolvedDependencies, resource{
			URI:    "git+" + in.Source.URL + "@" + in.Source.Revision,
			Digest: map[string]string{"gitCommit": in.Source.Revision},
		})
	}
	platforms := make([]string, 0, len(in.Folders))
	for p := range in.Folders {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		name := "folder"
		if p != "" {
			name = "folder for " + p
		}
		def.ResolvedDependencies = append(def.ResolvedDependencies, resource{Name: name, Digest: digestMap(in.Folders[p])})
	}
	run := &st.Predicate.RunDetails
	run.Builder.ID = builderID
	run.Builder.Version = map[string]string{"scratch-push": in.Tool}
	if in.InvocationID != "" {
		run.Metadata = &struct {
			InvocationID string `json:"invocationId,omitempty"`
		}{in.InvocationID}
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("writing the provenance: %w", err)
	}
	return b, nil
}

// digestMap is d as an in-toto digest set: {"sha256": "<hex>"}.
func digestMap(d digest.Digest) map[string]string {
	return map[string]string{d.Algorithm().String(): d.Encoded()}
}
