// Command floor is the least a program can do for the events workload: read
// a topic with a kafka-go consumer group and POST each record's value, as
// it is, to one URL with net/http, concurrency requests at a time, then
// commit. make bench measures it exactly as it measures the connector, so
// the connector's CPU per record reads as a multiple of this one's.
//
// It does nothing the workload does not need: no validation, no metrics, no
// dead letters, no ordered commits (it commits the highest offset handled
// per partition, skipping lower ones that finish later so that the
// committed offset never goes back), and a failed POST is simply tried
// again.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

func main() {
	broker := flag.String("broker", "127.0.0.1:9092", "Kafka broker")
	topic := flag.String("topic", "web.events", "topic to read")
	group := flag.String("group", "floor", "consumer group")
	url := flag.String("url", "", "where to POST each record's value")
	token := flag.String("token", "", "bearer token")
	concurrency := flag.Int("concurrency", 128, "requests in flight")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *broker, *topic, *group, *url, "Bearer "+*token, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, broker, topic, group, url, auth string, concurrency int) error {
	// The connector's reader settings, so that both fetch alike.
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: []string{broker}, GroupID: group, GroupTopics: []string{topic},
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 250 * time.Millisecond, QueueCapacity: 1000,
		StartOffset: kafka.FirstOffset, CommitInterval: 200 * time.Millisecond,
		HeartbeatInterval: time.Second, SessionTimeout: 10 * time.Second,
	})
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency,
	}}
	msgs := make(chan kafka.Message)
	var wg sync.WaitGroup
	var mu sync.Mutex
	highest := map[int]int64{}
	for range concurrency {
		wg.Go(func() {
			for m := range msgs {
				for post(hc, url, auth, m.Value) != nil {
					time.Sleep(100 * time.Millisecond)
				}
				// kafka-go commits the last offset it was given per
				// partition each CommitInterval: a lower one finishing after
				// a higher one was committed would move the group back.
				// Under the lock, so that the reader receives a partition's
				// offsets in increasing order.
				mu.Lock()
				if h, seen := highest[m.Partition]; !seen || m.Offset > h {
					highest[m.Partition] = m.Offset
					// Queued for the next commit; no error but a closed
					// reader's.
					_ = r.CommitMessages(context.Background(), m)
				}
				mu.Unlock()
			}
		})
	}
	var err error
	for {
		var m kafka.Message
		if m, err = r.FetchMessage(ctx); err != nil {
			break
		}
		msgs <- m
	}
	close(msgs)
	wg.Wait()
	if cerr := r.Close(); cerr != nil {
		return cerr
	}
	if ctx.Err() != nil {
		return nil // SIGTERM
	}
	return err
}

func post(hc *http.Client, url, auth string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	return nil
}
