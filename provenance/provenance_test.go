package provenance

import (
	"encoding/json"
	"strings"
	"testing"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"github.com/opencontainers/go-digest"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestStatement(t *testing.T) {
	image := digest.FromString("manifest")
	folder := digest.FromString("files")
	in := Input{
		Subjects:   []Subject{{Name: "ghcr.io/team/app", Digest: image}},
		Tool:       "scratch-push v1.2.3",
		Parameters: map[string]any{"cmd": []string{"./app"}, "env": []string{"TOKEN"}, "ports": []string{"5000/tcp"}},
		Internal:   map[string]any{"push": "daemon"},
		Folders:    map[string]digest.Digest{"": folder},
		Source:     Source{URL: "https://github.com/team/app", Revision: "0123456789abcdef0123456789abcdef01234567"},
	}
	b, err := Statement(in)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Type          string `json:"_type"`
		PredicateType string
		Subject       []struct {
			Name   string
			Digest map[string]string
		}
		Predicate struct {
			BuildDefinition struct {
				BuildType            string
				ExternalParameters   map[string]any
				InternalParameters   map[string]any
				ResolvedDependencies []struct {
					URI    string `json:"uri"`
					Name   string
					Digest map[string]string
				}
			}
			RunDetails struct {
				Builder struct {
					ID      string `json:"id"`
					Version map[string]string
				}
			}
		}
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	def := st.Predicate.BuildDefinition
	switch {
	case st.Type != "https://in-toto.io/Statement/v1", st.PredicateType != PredicateType:
		t.Errorf("type %q, predicate %q", st.Type, st.PredicateType)
	case len(st.Subject) != 1 || st.Subject[0].Name != "ghcr.io/team/app" || st.Subject[0].Digest["sha256"] != image.Encoded():
		t.Errorf("subject %+v", st.Subject)
	case def.BuildType != BuildType || def.InternalParameters["push"] != "daemon":
		t.Errorf("build definition %+v", def)
	case len(def.ResolvedDependencies) != 2 || def.ResolvedDependencies[0].Digest["gitCommit"] != in.Source.Revision || !strings.HasPrefix(def.ResolvedDependencies[0].URI, "git+https://github.com/team/app@") || def.ResolvedDependencies[1].Digest["sha256"] != folder.Encoded():
		t.Errorf("dependencies %+v", def.ResolvedDependencies)
	case st.Predicate.RunDetails.Builder.ID == "" || st.Predicate.RunDetails.Builder.Version["scratch-push"] != "scratch-push v1.2.3":
		t.Errorf("builder %+v", st.Predicate.RunDetails.Builder)
	}
	if env, _ := def.ExternalParameters["env"].([]any); len(env) != 1 || env[0] != "TOKEN" {
		t.Errorf("env %v", def.ExternalParameters["env"])
	}
	// in-toto's own types read it and find it valid, statement and
	// predicate: the oracle for the fields written by hand here.
	var oracle intoto.Statement
	if err := protojson.Unmarshal(b, &oracle); err != nil {
		t.Fatalf("in-toto's Statement does not read it: %v", err)
	}
	if err := oracle.Validate(); err != nil {
		t.Errorf("in-toto finds the statement invalid: %v", err)
	}
	predicate, err := protojson.Marshal(oracle.GetPredicate())
	if err != nil {
		t.Fatal(err)
	}
	var prov slsa.Provenance
	if err := protojson.Unmarshal(predicate, &prov); err != nil {
		t.Fatalf("in-toto's SLSA Provenance does not read the predicate: %v", err)
	}
	if err := prov.Validate(); err != nil {
		t.Errorf("in-toto finds the provenance invalid: %v", err)
	}
	// The same input, the same bytes: nothing new to attach.
	again, _ := Statement(in)
	if string(again) != string(b) {
		t.Error("the statement changed between two runs")
	}
}
