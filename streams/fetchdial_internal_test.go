package streams

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// A read waiting on a long deadline ends as soon as the context the
// connection was dialled under ends; that is what lets a rebalance skip
// the wait of every fetch in flight (fetchMaxWait).
func TestAbortOnCancelEndsAWaitingRead(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c := abortOnCancel(ctx, client)
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		read <- err
	}()
	cancel()
	select {
	case err := <-read:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read ended with %v, want a passed deadline", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read still waits 10 s after its context ended")
	}
}

// A deadline kafka-go sets after the context ended (the next fetch of a
// loop being stopped) does not bring the connection back.
func TestAbortOnCancelKeepsDeadlinesPast(t *testing.T) {
	tests := []struct {
		name string
		set  func(net.Conn, time.Time) error
	}{
		{"SetDeadline", net.Conn.SetDeadline},
		{"SetReadDeadline", net.Conn.SetReadDeadline},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer server.Close()
			ctx, cancel := context.WithCancel(context.Background())
			c := abortOnCancel(ctx, client)
			defer c.Close()
			cancel()
			if err := tt.set(c, time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read after the context ended: %v, want a passed deadline", err)
			}
		})
	}
}

// Connections dialled under a context that never ends (the group's
// coordinator connections) are not wrapped, and a connection closed before
// its context ends is left alone.
func TestAbortOnCancelLeavesOthers(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	if c := abortOnCancel(context.Background(), client); c != client {
		t.Fatalf("a connection of context.Background was wrapped: %T", c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := abortOnCancel(ctx, client).(*abortableConn)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if c.stop() {
		t.Fatal("Close left the abort registered")
	}
}
