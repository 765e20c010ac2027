package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// BlobStream is a blob uploaded while it is made: the bytes written to it
// go up in one PATCH as they come (the OCI's streamed upload, as ko's and
// crane's streamed layers go), and Commit names the blob once it is whole.
// It never fails a write: a registry that refuses or drops the upload
// leaves the blob unsent, and Push sends it from its file as it sends any
// other. Writes are buffered (streamBuffer) so that the bytes made while
// the upload is opened do not wait for it.
type BlobStream struct {
	c      *Client
	ctx    context.Context
	cancel context.CancelFunc
	chunks chan []byte
	// done is closed when the PATCH has ended; err says how.
	done   chan struct{}
	err    error
	w      *wire
	loc    *url.URL // where the PATCH said the upload goes on
	mu     sync.Mutex
	closed bool
}

// streamBuffer bounds the bytes a BlobStream holds that the upload has not
// taken yet, in writes (pgzip writes a compressed block of at most 1 MiB
// at a time): enough for what is made while the upload is opened (a round
// trip or two), not a copy of the layer when the link is slower than the
// compression.
const streamBuffer = 16

// StreamBlob opens a streamed upload of a blob to repo.
func (c *Client) StreamBlob(ctx context.Context, repo reference.Named) *BlobStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &BlobStream{c: c, ctx: ctx, cancel: cancel, chunks: make(chan []byte, streamBuffer), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.err = s.send(repo)
		if s.err != nil {
			s.drain()
		}
	}()
	return s
}

// send opens the upload and streams the chunks as its PATCH's body.
func (s *BlobStream) send(repo reference.Named) error {
	w, err := s.c.wire(s.ctx, repo)
	if err != nil {
		return err
	}
	s.w = w
	resp, err := w.do(s.ctx, http.MethodPost, w.url("/blobs/uploads/"), nil, nil, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc, err := location(resp)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPatch, loc.String(), &chunkReader{chunks: s.chunks})
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	// The retries' transport cannot send a stream twice: this request
	// goes once (oneTry); a failed stream is sent again from its file.
	patched, err := w.hc.Do(req.WithContext(oneTry(s.ctx)))
	if err != nil {
		return err
	}
	defer patched.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(patched.Body, 64<<10))
	if patched.StatusCode != http.StatusAccepted && patched.StatusCode != http.StatusNoContent && patched.StatusCode != http.StatusCreated {
		return fmt.Errorf("the registry answered the upload with %s", patched.Status)
	}
	next, err := location(patched)
	if err != nil {
		return err
	}
	s.loc = next
	return nil
}

// drain takes what is written after a failed upload, so that no Write
// waits for it.
func (s *BlobStream) drain() {
	for range s.chunks {
	}
}

// Write queues p for the upload; it never fails.
func (s *BlobStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		select {
		case s.chunks <- append([]byte(nil), p...):
		case <-s.ctx.Done():
		}
	}
	return len(p), nil
}

// Commit ends the stream and, when every byte went up, commits the blob
// as d (the registry checks it); the session then counts d as uploaded to
// the repository. A blob not committed (err, or a failed upload) is
// dropped: Commit returns what stopped it.
func (s *BlobStream) Commit(d digest.Digest, err error) error {
	s.close()
	defer s.cancel()
	if err != nil {
		return err
	}
	<-s.done
	if s.err != nil {
		return s.err
	}
	if err := s.w.commitBlob(s.ctx, s.loc, d, nil); err != nil {
		return fmt.Errorf("committing blob %s: %w", d, err)
	}
	s.c.session.upload(s.w.r.Name(), d)
	return nil
}

func (s *BlobStream) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.chunks)
	}
}

// chunkReader reads the chunks a BlobStream queues, to their end.
type chunkReader struct {
	chunks chan []byte
	cur    []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		c, ok := <-r.chunks
		if !ok {
			return 0, io.EOF
		}
		r.cur = c
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
