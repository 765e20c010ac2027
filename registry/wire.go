package registry

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The requests this package makes itself, through the session's
// authorized transport (retries inside), where go-containerregistry's
// writer costs round trips a push across a link pays for: it asks for a
// manifest (HEAD) before putting it and gives no access to the put's
// answer, so a push read its tag back with another HEAD; it uploads a
// small blob in four requests (HEAD, POST, PATCH, PUT) where two do; and
// it asks the referrers API (a GET) after every artifact put, though the
// put's own answer says (OCI-Subject). Blobs of layers still go through
// go-containerregistry: its HEAD skips what the registry has, and its
// upload streams.

// wire is one repository of a registry, with the transport that holds
// the run's authorization for it.
type wire struct {
	repo  reference.Named
	r     name.Repository
	hc    *http.Client
	named string // for errors: the repository as the user wrote it
}

// wire opens repo for requests of this package's own; a refusal is
// classified as a push's.
func (c *Client) wire(ctx context.Context, repo reference.Named) (*wire, error) {
	w, err := c.openWire(ctx, repo)
	if err != nil {
		return nil, classify(ctx, repo, err)
	}
	return w, nil
}

// openWire is wire with the handshake's error as it came.
func (c *Client) openWire(ctx context.Context, repo reference.Named) (*wire, error) {
	r, t, err := c.authorizedFor(ctx, repo)
	if err != nil {
		return nil, err
	}
	return &wire{repo: repo, r: r, hc: &http.Client{Transport: t}, named: reference.FamiliarName(repo)}, nil
}

func (w *wire) url(path string) string {
	u := url.URL{Scheme: w.r.Registry.Scheme(), Host: w.r.RegistryStr(), Path: "/v2/" + w.r.RepositoryStr() + path}
	return u.String()
}

// root is the registry's /v2/ endpoint.
func (w *wire) root() string {
	u := url.URL{Scheme: w.r.Registry.Scheme(), Host: w.r.RegistryStr(), Path: "/v2/"}
	return u.String()
}

// do sends one request and checks its status is one of want; the
// response's body is drained and closed, its header returned.
func (w *wire) do(ctx context.Context, method, u string, header http.Header, body []byte, want ...int) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, want...); err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp, nil
}

// hasBlob says whether the repository holds blob d (a HEAD).
func (w *wire) hasBlob(ctx context.Context, d digest.Digest) (bool, error) {
	resp, err := w.do(ctx, http.MethodHead, w.url("/blobs/"+d.String()), nil, nil, http.StatusOK, http.StatusNotFound)
	if err != nil {
		return false, fmt.Errorf("asking for blob %s: %w", d, err)
	}
	return resp.StatusCode == http.StatusOK, nil
}

// get reads what path below the repository holds, as one of accept:
// its body (at most 4 MiB) and the answer; nil for a 404.
func (w *wire) get(ctx context.Context, path, accept string) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url(path), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := w.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK, http.StatusNotFound); err != nil {
		return nil, nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, resp, nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return body, resp, err
}

// uploadBlob uploads b, known in full, in two requests: a POST that opens
// the upload and a PUT of every byte with its digest (the OCI's
// monolithic upload). No HEAD first: the blobs sent so are small, made in
// this run, and cheaper to send again than to ask after.
func (w *wire) uploadBlob(ctx context.Context, b []byte) error {
	d := digest.FromBytes(b)
	resp, err := w.do(ctx, http.MethodPost, w.url("/blobs/uploads/"), nil, nil, http.StatusAccepted)
	if err != nil {
		return fmt.Errorf("uploading blob %s: %w", d, err)
	}
	loc, err := location(resp)
	if err != nil {
		return fmt.Errorf("uploading blob %s: %w", d, err)
	}
	if err := w.commitBlob(ctx, loc, d, b); err != nil {
		return fmt.Errorf("uploading blob %s: %w", d, err)
	}
	return nil
}

// commitBlob ends the upload at loc as blob d with a PUT of its last bytes
// (all of them for a monolithic upload, none after a PATCH).
func (w *wire) commitBlob(ctx context.Context, loc *url.URL, d digest.Digest, last []byte) error {
	u := *loc
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	_, err := w.do(ctx, http.MethodPut, u.String(), http.Header{"Content-Type": {"application/octet-stream"}}, last, http.StatusCreated)
	return err
}

// location is where an upload goes on: the answer's Location, resolved
// against the request's URL.
func location(resp *http.Response) (*url.URL, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("the registry answered %s with no Location", resp.Status)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("the registry's Location %q: %w", loc, err)
	}
	return u, nil
}

// put is what a manifest put told: the digest the registry confirmed, and
// whether it took up the manifest's subject in its referrers (OCI-Subject).
type put struct {
	digest  digest.Digest
	subject bool
}

// putManifest puts body, a manifest of mediaType, as ref (a tag or a
// digest) and returns the digest the registry gives it: its answer's
// Docker-Content-Digest, or where the answer names none, the digest a
// HEAD of ref gives. It must be body's digest: anything else is an error.
func (w *wire) putManifest(ctx context.Context, ref, mediaType string, body []byte) (put, error) {
	want := digest.FromBytes(body)
	resp, err := w.do(ctx, http.MethodPut, w.url("/manifests/"+ref), http.Header{"Content-Type": {mediaType}}, body,
		http.StatusOK, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return put{}, err
	}
	p := put{digest: digest.Digest(resp.Header.Get("Docker-Content-Digest")), subject: resp.Header.Get("OCI-Subject") != ""}
	if p.digest == "" {
		desc, err := w.headManifest(ctx, ref)
		if err != nil {
			return p, fmt.Errorf("reading back the pushed manifest: %w", err)
		}
		p.digest = desc.Digest
	}
	if p.digest != want {
		return p, fmt.Errorf("the registry names %s %s, but the manifest pushed is %s", w.named+sep(ref)+ref, p.digest, want)
	}
	return p, nil
}

func sep(ref string) string {
	if strings.Contains(ref, ":") {
		return "@"
	}
	return ":"
}

// headManifest asks for manifest ref: its digest, media type and size.
func (w *wire) headManifest(ctx context.Context, ref string) (ocispec.Descriptor, error) {
	resp, err := w.do(ctx, http.MethodHead, w.url("/manifests/"+ref), http.Header{"Accept": {manifestTypes}}, nil, http.StatusOK)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	d := digest.Digest(resp.Header.Get("Docker-Content-Digest"))
	if err := d.Validate(); err != nil || resp.ContentLength <= 0 {
		return ocispec.Descriptor{}, fmt.Errorf("the registry's answer for %s names no digest and size", w.named+sep(ref)+ref)
	}
	return ocispec.Descriptor{MediaType: resp.Header.Get("Content-Type"), Digest: d, Size: resp.ContentLength}, nil
}

// manifestTypes are the manifests a HEAD accepts.
var manifestTypes = strings.Join([]string{
	"application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.distribution.manifest.list.v2+json",
}, ", ")
