// Command subscriber follows the Contacthub changes the connector's update
// stream source publishes and prints one line per change: an example of an
// application built on streams.Subscribe.
//
//	subscriber -brokers localhost:9092 [-group NAME] [-topics contacthub.customers,contacthub.events] [-latest]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/contactlab/connector/connector/contacthub"
	"github.com/contactlab/connector/streams"
)

func main() {
	brokers := flag.String("brokers", "localhost:9092", "Kafka bootstrap brokers, comma-separated")
	group := flag.String("group", "contacthub-subscriber", "consumer group (replicas of one application share it)")
	topics := flag.String("topics", "contacthub.customers,contacthub.events", "topics to follow, comma-separated")
	latest := flag.Bool("latest", false, "a new group starts at the end of the topics instead of the beginning")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := streams.SubscribeConfig{
		Brokers:         strings.Split(*brokers, ","),
		GroupID:         *group,
		Topics:          strings.Split(*topics, ","),
		StartFromLatest: *latest,
	}
	if err := contacthub.PrintUpdates(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "subscriber:", err)
		os.Exit(1)
	}
}
