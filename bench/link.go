package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A link between the tools and the registry: a TCP proxy that paces what
// crosses it as a network link of some bandwidth and round trip would.
// netem is not there on every machine (and is not on this project's), so
// the delay is the proxy's own; tc's tbf could shape the rate but not
// delay it.
//
// The model, per direction: bytes leave one after the other at the link's
// rate, whichever connection sent them (the connections share the link, as
// a push's parallel uploads share the user's uplink), and arrive half a
// round trip after they left. A new connection's first bytes wait a round
// trip more, for TCP's handshake, and each connection starts slow, as
// TCP's slow start has it: 10 segments in its first round trip, twice as
// many in each next one (no loss, so no end to the doubling but the
// link's rate). Bytes queue in the proxy up to a bound
// (linkQueue per connection and direction), beyond which the sender
// waits, as TCP's window makes it.

// linkProfile is one link the bench measures across.
type linkProfile struct {
	name string
	bps  int64 // bits per second, each way
	rtt  time.Duration
}

var linkProfiles = []linkProfile{
	{name: "200mbit-20ms", bps: 200e6, rtt: 20 * time.Millisecond},
	{name: "1gbit-2ms", bps: 1e9, rtt: 2 * time.Millisecond},
}

func (p linkProfile) String() string {
	if p.bps == 0 {
		return "loopback"
	}
	return fmt.Sprintf("%g Mbit/s, %v round trip", float64(p.bps)/1e6, p.rtt)
}

// pickLinks returns the profiles names names, comma-separated; "loopback"
// is no link at all.
func pickLinks(names string) ([]linkProfile, error) {
	var out []linkProfile
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if n == "loopback" || n == "none" {
			out = append(out, linkProfile{name: "loopback"})
			continue
		}
		found := false
		for _, p := range linkProfiles {
			if p.name == n {
				out, found = append(out, p), true
			}
		}
		if !found {
			return nil, fmt.Errorf("no link profile %q: the bench knows loopback and %s", n, profileNames())
		}
	}
	return out, nil
}

func profileNames() string {
	var n []string
	for _, p := range linkProfiles {
		n = append(n, p.name)
	}
	return strings.Join(n, ", ")
}

const (
	linkChunk = 16 << 10 // bytes read, paced and written at once
	linkQueue = 64       // chunks queued per connection and direction: 1 MiB, more than either profile's bandwidth-delay product
)

// pacer is one direction of the link: when it is next free.
type pacer struct {
	mu   sync.Mutex
	next time.Time
	bps  int64
}

// arrival reserves the link for n bytes sent at notBefore (or once the
// link is free) and returns when they arrive, oneWay after they left.
func (p *pacer) arrival(n int, notBefore time.Time, oneWay time.Duration) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	leave := notBefore
	if p.next.After(leave) {
		leave = p.next
	}
	p.next = leave.Add(time.Duration(int64(n) * 8 * int64(time.Second) / p.bps))
	return p.next.Add(oneWay)
}

// link is a running proxy: Addr is where the tools push to.
type link struct {
	Addr     string
	ln       net.Listener
	up, down pacer
	profile  linkProfile
	backend  string
	wg       sync.WaitGroup
}

// startLink listens on a free loopback port and forwards every connection
// to backend across p.
func startLink(p linkProfile, backend string) (*link, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &link{Addr: ln.Addr().String(), ln: ln, profile: p, backend: backend,
		up: pacer{bps: p.bps}, down: pacer{bps: p.bps}}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

func (l *link) serve() {
	defer l.wg.Done()
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.forward(c)
	}
}

func (l *link) forward(client net.Conn) {
	opened := time.Now().Add(l.profile.rtt) // the handshake's round trip
	server, err := net.Dial("tcp", l.backend)
	if err != nil {
		client.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.pace(server, client, &l.up, opened) }()
	go func() { defer wg.Done(); l.pace(client, server, &l.down, time.Time{}) }()
	wg.Wait()
	client.Close()
	server.Close()
}

type chunk struct {
	b  []byte
	at time.Time
}

// window is one connection's direction in slow start: the bytes it may
// send in the round trip that began at start.
type window struct {
	start      time.Time
	cwnd, sent int
}

// initialWindow is TCP's first congestion window: 10 segments (RFC 6928).
const initialWindow = 10 * 1460

// leave is when n more bytes may leave, no earlier than at: once the round
// trip whose window they fit in has begun.
func (w *window) leave(n int, at time.Time, rtt time.Duration) time.Time {
	if w.cwnd == 0 {
		w.start, w.cwnd = at, initialWindow
	}
	for w.sent+n > w.cwnd && w.sent > 0 {
		w.start, w.cwnd, w.sent = w.start.Add(rtt), 2*w.cwnd, 0
	}
	if w.start.Before(at) && w.sent == 0 { // idle: the window keeps its size
		w.start = at
	}
	w.sent += n
	if w.start.After(at) {
		return w.start
	}
	return at
}

// pace copies src to dst as p's direction of the link carries it: read as
// soon as sent, written when it would arrive. The first bytes leave no
// earlier than notBefore.
func (l *link) pace(dst, src net.Conn, p *pacer, notBefore time.Time) {
	queue := make(chan chunk, linkQueue)
	go func() {
		defer close(queue)
		var w window
		for {
			b := make([]byte, linkChunk)
			n, err := src.Read(b)
			if n > 0 {
				at := time.Now()
				if notBefore.After(at) {
					at = notBefore
				}
				queue <- chunk{b[:n], p.arrival(n, w.leave(n, at, l.profile.rtt), l.profile.rtt/2)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range queue {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			go func() { // let the reader end
				for range queue {
				}
			}()
			src.Close()
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
}

func (l *link) stop() {
	l.ln.Close()
	l.wg.Wait()
}

// serveLink serves the first of the links named in front of backend until
// the process is interrupted.
func serveLink(names, backend string) error {
	links, err := pickLinks(names)
	if err != nil {
		return err
	}
	if links[0].bps == 0 {
		return fmt.Errorf("-serve-link needs a -link profile: %s", profileNames())
	}
	l, err := startLink(links[0], backend)
	if err != nil {
		return err
	}
	fmt.Printf("%s: push to %s to reach %s\n", links[0], l.Addr, backend)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	l.stop()
	return nil
}
