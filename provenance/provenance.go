// Package provenance says how an image was made as an SLSA v1 provenance
// statement (in-toto Statement v1): who made it (scratch-push and its
// version), from what (the folder's digest, the source repository and
// revision the source labels name) and with which parameters (the
// command, ports, the environment's names — never its values, which may
// be secret — the essentials added, the platforms). It is made with the
// in-toto project's own Go types (in-toto/attestation), which keep the
// statement and predicate as their specifications have them.
//
// The statement holds no clock: the same image made of the same folder
// with the same parameters gets the same statement, as its SBOM does, so
// that pushing it again attaches nothing new.
package provenance

import (
	"encoding/json"
	"fmt"
	"sort"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// PredicateType is SLSA v1 provenance's, which cosign verify-attestation
// --type slsaprovenance1 asks for.
const PredicateType = "https://slsa.dev/provenance/v1"

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

// Statement is the in-toto statement of in's SLSA v1 provenance, as JSON.
func Statement(in Input) ([]byte, error) {
	external, err := structOf(in.Parameters)
	if err != nil {
		return nil, fmt.Errorf("the provenance's parameters: %w", err)
	}
	internal, err := structOf(in.Internal)
	if err != nil {
		return nil, fmt.Errorf("the provenance's internal parameters: %w", err)
	}
	def := &slsa.BuildDefinition{BuildType: BuildType, ExternalParameters: external, InternalParameters: internal}
	if in.Source.URL != "" && in.Source.Revision != "" {
		def.ResolvedDependencies = append(def.ResolvedDependencies, &intoto.ResourceDescriptor{
			Uri:    "git+" + in.Source.URL + "@" + in.Source.Revision,
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
		d := in.Folders[p]
		def.ResolvedDependencies = append(def.ResolvedDependencies, &intoto.ResourceDescriptor{Name: name, Digest: map[string]string{d.Algorithm().String(): d.Encoded()}})
	}
	run := &slsa.RunDetails{Builder: &slsa.Builder{Id: builderID, Version: map[string]string{"scratch-push": in.Tool}}}
	if in.InvocationID != "" {
		run.Metadata = &slsa.BuildMetadata{InvocationId: in.InvocationID}
	}
	pred := &slsa.Provenance{BuildDefinition: def, RunDetails: run}
	if err := pred.Validate(); err != nil {
		return nil, fmt.Errorf("the provenance: %w", err)
	}
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, err
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, predStruct); err != nil {
		return nil, err
	}
	st := &intoto.Statement{Type: intoto.StatementTypeUri, PredicateType: PredicateType, Predicate: predStruct}
	for _, s := range in.Subjects {
		st.Subject = append(st.Subject, &intoto.ResourceDescriptor{Name: s.Name, Digest: map[string]string{s.Digest.Algorithm().String(): s.Digest.Encoded()}})
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("the provenance statement: %w", err)
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	// protojson's output is not stable across versions (it may add
	// spaces): the statement is written again as JSON with sorted keys.
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// structOf is m as a protobuf Struct, its values as JSON gives them
// ([]string as a list, and so on), which structpb takes.
func structOf(m map[string]any) (*structpb.Struct, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return structpb.NewStruct(out)
}
