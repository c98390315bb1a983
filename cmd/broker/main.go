// Command broker runs an embedded Kafka-protocol broker (kfake) so the
// connector, the sandbox and outside clients such as kcat run on one machine
// without Docker.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/contactlab/connector/streams/embedded"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9092", "listen address (host:port)")
	partitions := flag.Int("partitions", 4, "partitions of created topics")
	topics := flag.String("topics", "", "comma-separated topics to create at start")
	dataDir := flag.String("data-dir", "", "persist the broker's state in this directory")
	flag.Parse()
	var ts []string
	if *topics != "" {
		ts = strings.Split(*topics, ",")
	}
	b, err := embedded.Start(embedded.Config{Addr: *addr, Partitions: *partitions, Topics: ts, DataDir: *dataDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "broker:", err)
		os.Exit(1)
	}
	fmt.Printf("broker listening on %s\n", b.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	b.Close()
}
