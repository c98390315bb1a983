package streams

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// retryQueue holds records waiting for their back-off, so that no worker
// (and no goroutine per record) waits for them. Its size is bounded by the
// records in flight.
type retryQueue struct {
	mu   sync.Mutex
	h    dueHeap
	wake chan struct{}
}

func newRetryQueue() *retryQueue { return &retryQueue{wake: make(chan struct{}, 1)} }

// add schedules r for at; it never blocks.
func (q *retryQueue) add(r *Record, at time.Time) {
	q.mu.Lock()
	heap.Push(&q.h, dueRecord{r, at})
	first := q.h[0].r == r
	q.mu.Unlock()
	if first {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// len is how many records wait.
func (q *retryQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.h)
}

// run hands each record to out when it is due, until ctx ends.
func (q *retryQueue) run(ctx context.Context, out chan<- *Record) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		q.mu.Lock()
		var next *Record
		var wait time.Duration = time.Hour
		if len(q.h) > 0 {
			if d := time.Until(q.h[0].at); d <= 0 {
				next = heap.Pop(&q.h).(dueRecord).r
			} else {
				wait = d
			}
		}
		q.mu.Unlock()
		if next != nil {
			select {
			case out <- next:
				continue
			case <-ctx.Done():
				return
			}
		}
		t.Reset(wait)
		select {
		case <-t.C:
		case <-q.wake:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

type dueRecord struct {
	r  *Record
	at time.Time
}

type dueHeap []dueRecord

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueRecord)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = dueRecord{}
	*h = old[:len(old)-1]
	return x
}
