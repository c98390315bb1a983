package streams

import (
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Finishing a generation before the next join.
//
// kafka-go's reader does not say when a rebalance takes a partition away:
// the member goes on delivering what it fetched, while the partition's new
// owner reads the same records again from the last commit. Nothing is lost
// (the old owner commits nothing past what it finished), but for a sink
// that keeps an order (Sequential: UPS, Contacthub customers) an update the
// old owner still held could reach the API after the newer one the new
// owner sent, and overwrite it.
//
// Kafka Connect's answer under the eager protocol, which kafka-go speaks,
// is to finish a generation's work before joining the next. The pipeline
// of a Sequential sink does the same through the one hook kafka-go offers
// at that moment: a balancer's UserData, which the reader asks for as it
// builds its JoinGroup, once it has stopped the old generation's partition
// readers. There the pipeline waits until every record of the old
// generation has its outcome: the reader's queue is empty (no new record
// can enter it before the join) and nothing is in flight. Meanwhile no
// commit can be made (kafka-go commits within a generation), so fetching
// does not stop at the window of uncommitted records: it goes past it by
// at most the reader's queue, and the commit follows the join. The group's next
// generation cannot begin before every member joined, so no member reads a
// partition while its old owner still sends records of it.
//
// The wait is bounded by half the rebalance timeout (the session timeout),
// so that the member is not dropped from the group; records still
// unfinished then (an API failing, so retries go on) are left as before:
// the new owner reads them again, and the overlap is logged.

// finishWaitShare bounds the wait for a generation's records before a
// join: the rebalance timeout divided by it.
const finishWaitShare = 2

// finishPoll is how often the wait looks at the reader's queue.
const finishPoll = 5 * time.Millisecond

// joinHook wraps a balancer so that asking it for its user data, as every
// JoinGroup does, first calls hook.
type joinHook struct {
	kafka.GroupBalancer
	hook func()
}

// UserData implements kafka.GroupBalancer.
func (b joinHook) UserData() ([]byte, error) {
	b.hook()
	return b.GroupBalancer.UserData()
}

// withJoinHook returns balancers (kafka-go's defaults when nil) with hook
// called before each join: the first balancer's user data is asked for
// first.
func withJoinHook(balancers []kafka.GroupBalancer, hook func()) []kafka.GroupBalancer {
	if len(balancers) == 0 {
		balancers = []kafka.GroupBalancer{kafka.RangeGroupBalancer{}, kafka.RoundRobinGroupBalancer{}}
	}
	out := append([]kafka.GroupBalancer(nil), balancers...)
	out[0] = joinHook{out[0], hook}
	return out
}

// readerStats reads a reader's stats for everyone who needs them: kafka-go
// resets its counters at each Stats call, so the rebalances are added up
// here.
type readerStats struct {
	mu         sync.Mutex
	r          *kafka.Reader
	rebalances int64
}

// read returns the messages queued in the reader and the generations
// begun since it was made.
func (s *readerStats) read() (queued, rebalances int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.r == nil {
		return 0, 0
	}
	st := s.r.Stats()
	s.rebalances += st.Rebalances
	return st.QueueLength, s.rebalances
}

// setReader sets the reader once it is made (a join may come first).
func (s *readerStats) setReader(r *kafka.Reader) {
	s.mu.Lock()
	s.r = r
	s.mu.Unlock()
}

// finishGeneration is the join hook of a Sequential sink's pipeline: it
// returns once every record fetched so far has its outcome and the reader
// holds none, or after half the rebalance timeout, or when the pipeline
// stops.
func (p *Pipeline) finishGeneration() {
	queued, _ := p.stats.read()
	if queued == 0 && p.c.inFlight.Load() == 0 {
		return // the first join, or nothing left: nothing to wait for
	}
	gauge := p.m.finishing.WithLabelValues(p.cfg.Name)
	gauge.Set(1)
	defer gauge.Set(0)
	// No commit can be made before the join, so the window of uncommitted
	// records would stop fetching short of the reader's queue.
	p.finishing.Store(true)
	defer p.finishing.Store(false)
	signal(p.committed)
	start := time.Now()
	deadline := time.NewTimer(p.cfg.SessionTimeout / finishWaitShare)
	defer deadline.Stop()
	tick := time.NewTicker(finishPoll)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-deadline.C:
			queued, _ := p.stats.read()
			p.log.Warn("rejoining the group with records of the last generation unfinished: the partitions' next owners may send them again, and an older update may overwrite a newer one",
				"in_flight", p.c.inFlight.Load(), "queued", queued, "waited", time.Since(start).Round(time.Millisecond))
			return
		case <-p.work.Done():
			return
		}
		if queued, _ := p.stats.read(); queued == 0 && p.c.inFlight.Load() == 0 {
			p.log.Info("finished the last generation's records before rejoining the group", "waited", time.Since(start).Round(time.Millisecond))
			return
		}
	}
}
