package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// brokerReady reports whether the broker at addr answers metadata with
// every topic in place.
func brokerReady(ctx context.Context, addr string, topics []string) error {
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 2 * time.Second}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return err
	}
	for _, t := range md.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s: no partitions yet", t.Name)
		}
	}
	return nil
}

// produce writes n records to topic, next making the i-th, and returns how
// long it took. Records are made a chunk at a time while the previous chunk
// is written, so that a backlog of a million costs neither minutes nor a
// million records held in the harness.
func produce(ctx context.Context, addr, topic string, n int, next func() (key, value []byte)) (time.Duration, error) {
	const chunk = 20000
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, Balancer: &kafka.Murmur2Balancer{Consistent: true},
		BatchSize: 5000, BatchBytes: 900 << 10, // under the broker's 1 MB default
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireOne}
	defer w.Close()
	makeCtx, stopMaking := context.WithCancel(ctx)
	defer stopMaking()
	chunks := make(chan []kafka.Message, 1)
	go func() {
		defer close(chunks)
		for done := 0; done < n; done += chunk {
			msgs := make([]kafka.Message, min(chunk, n-done))
			for i := range msgs {
				k, v := next()
				msgs[i] = kafka.Message{Key: k, Value: v}
			}
			select {
			case chunks <- msgs:
			case <-makeCtx.Done():
				return
			}
		}
	}()
	t0 := time.Now()
	for msgs := range chunks {
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			return 0, fmt.Errorf("produce to %s: %w", topic, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("produce to %s: %w", topic, err)
	}
	return time.Since(t0), nil
}

// caughtUp reports whether group has committed the end offset of every
// partition of topic, and if not, how far it is.
func caughtUp(ctx context.Context, addr, group, topic string) (bool, string, error) {
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return false, "", fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return false, "", fmt.Errorf("metadata of %s: %v", topic, md.Topics)
	}
	var parts []int
	var reqs []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		parts = append(parts, p.ID)
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
	}
	ends, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return false, "", fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	com, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, "", fmt.Errorf("committed offsets of %s on %s: %w", group, topic, err)
	}
	committed := map[int]int64{}
	for _, p := range com.Topics[topic] {
		if p.Error != nil {
			return false, "", fmt.Errorf("committed offset of %s on %s/%d: %w", group, topic, p.Partition, p.Error)
		}
		committed[p.Partition] = p.CommittedOffset
	}
	var behind int64
	for _, e := range ends.Topics[topic] {
		if e.Error != nil {
			return false, "", fmt.Errorf("end offset of %s/%d: %w", topic, e.Partition, e.Error)
		}
		if c := committed[e.Partition]; c < e.LastOffset {
			behind += e.LastOffset - max(c, 0)
		}
	}
	return behind == 0, fmt.Sprintf("%s on %s: %d behind", group, topic, behind), nil
}

// groupsStable reports whether every group has members and has finished
// rebalancing: an idle pipeline is only idle once its group is stable.
func groupsStable(ctx context.Context, addr string, groups []string) (bool, string, error) {
	cl := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second}
	resp, err := cl.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: groups})
	if err != nil {
		return false, "", fmt.Errorf("describe groups: %w", err)
	}
	stable := 0
	var errs []error
	for _, g := range resp.Groups {
		if g.Error != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g.GroupID, g.Error))
			continue
		}
		if g.GroupState == "Stable" && len(g.Members) > 0 {
			stable++
		}
	}
	if len(errs) > 0 {
		return false, "", errors.Join(errs...)
	}
	return stable == len(groups), fmt.Sprintf("%d of %d groups stable", stable, len(groups)), nil
}
