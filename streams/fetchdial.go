package streams

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafka-go's group Reader runs one fetch loop per assigned partition, and
// a fetch waits at the broker for up to MaxWait when there is nothing to
// read. At a rebalance (and at Close) the Reader cancels the loops and
// waits for each one's fetch in flight, which it never interrupts: the
// member rejoins only after the longest of them. So MaxWait had to stay
// short (250 ms), and an idle pipeline asked for nothing about 20 times a
// second. The reader's connections are made here so that they end their
// reads as soon as the fetch loop that dialled them is cancelled: a fetch
// can then wait long (fetchMaxWait) and a rebalance still waits for none.

// fetchMaxWait is how long a fetch may wait at the broker for a record.
// A fetch returns as soon as one record is there (MinBytes 1), so the wait
// costs no latency; it sets how often an idle partition is asked again.
// kafka-go keeps a second of it for the round trip (the broker is told to
// wait MaxWait-1s; below 1 s, three quarters of it): 10 s makes an idle
// partition one fetch every 9 s. A cancelled loop's fetch ends at once
// (abortOnCancel), so rebalances and Close do not wait for it.
const fetchMaxWait = 10 * time.Second

// fetchDialTimeout bounds the TCP connection and the TLS handshake of a
// reader's connection (kafka-go's Dialer.Timeout does so for others).
const fetchDialTimeout = 10 * time.Second

// fetchDialer is the Dialer of a group Reader (its fetch loops and its
// group's coordinator). Unlike Dialer, its connections are tied to the
// context they were dialled under: when it ends, their reads and writes
// fail at once. kafka-go's own Timeout would hand DialFunc a context that
// ends as soon as the dial returns, so the timeout, and TLS, are applied
// here instead; SASL is unchanged.
func (s Security) fetchDialer() *kafka.Dialer {
	d := s.Dialer()
	tlsConfig := d.TLS
	d.TLS, d.Timeout = nil, 0
	d.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, fetchDialTimeout)
		defer cancel()
		c, err := (&net.Dialer{}).DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tlsConfig != nil {
			cfg := tlsConfig
			if cfg.ServerName == "" { // as kafka-go infers it
				cfg = cfg.Clone()
				if host, _, err := net.SplitHostPort(addr); err == nil {
					cfg.ServerName = host
				} else {
					cfg.ServerName = addr
				}
			}
			tc := tls.Client(c, cfg)
			if err := tc.HandshakeContext(dctx); err != nil {
				_ = c.Close()
				return nil, err
			}
			c = tc
		}
		return abortOnCancel(ctx, c), nil
	}
	return d
}

// abortOnCancel returns c whose reads and writes fail at once when ctx
// ends; c itself when ctx never ends (the group's connections are dialled
// under context.Background).
func abortOnCancel(ctx context.Context, c net.Conn) net.Conn {
	if ctx.Done() == nil {
		return c
	}
	ac := &abortableConn{Conn: c, ctx: ctx}
	ac.stop = context.AfterFunc(ctx, ac.abort)
	return ac
}

// longAgo is a deadline already past: reads and writes fail at once.
var longAgo = time.Unix(1, 0)

// abortableConn is a connection whose deadlines are in the past once its
// context ended. kafka-go sets a deadline before every read and write, so
// the deadline it asks for is replaced rather than only the current one
// moved: mu orders a deadline being set against the abort, so that
// neither a deadline set just before nor one set just after the context
// ended survives.
type abortableConn struct {
	net.Conn
	ctx  context.Context
	stop func() bool
	mu   sync.Mutex
}

func (c *abortableConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.Conn.SetDeadline(longAgo)
}

// deadline is t, or a past one once the context ended; c.mu is held.
func (c *abortableConn) deadline(t time.Time) time.Time {
	if c.ctx.Err() != nil {
		return longAgo
	}
	return t
}

func (c *abortableConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetDeadline(c.deadline(t))
}

func (c *abortableConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetReadDeadline(c.deadline(t))
}

func (c *abortableConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.SetWriteDeadline(c.deadline(t))
}

// Close unregisters the abort, which would otherwise keep c until the
// context ends.
func (c *abortableConn) Close() error {
	c.stop()
	return c.Conn.Close()
}
