// Package due runs items when they fall due, a bounded number at once: the
// job follower of package jobs, which reads each open job's status on its
// own schedule.
package due

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Queue holds items by the time they are next due. Push may be called from
// any goroutine, Run from one.
type Queue[T any] struct {
	mu    sync.Mutex
	items items[T]
	wake  chan struct{}
}

// New returns an empty queue.
func New[T any]() *Queue[T] { return &Queue[T]{wake: make(chan struct{}, 1)} }

// Push queues v to be handled at (or after) at, and wakes Run, which may be
// waiting for a later item or none.
func (q *Queue[T]) Push(v T, at time.Time) {
	q.mu.Lock()
	heap.Push(&q.items, item[T]{v: v, at: at})
	q.mu.Unlock()
	q.Wake()
}

// Wake makes a waiting Run look again at once, because what its hold says
// has changed (a pause lifted, a probe answered).
func (q *Queue[T]) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Len is the number of queued items (not those being handled).
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// next pops the earliest item if it is due, or says how long until it is.
func (q *Queue[T]) next(now time.Time) (v T, ok bool, wait time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return v, false, time.Hour
	}
	if wait := q.items[0].at.Sub(now); wait > 0 {
		return v, false, wait
	}
	return heap.Pop(&q.items).(item[T]).v, true, 0
}

// Run calls handle with each item once it is due, at most workers at once,
// until ctx ends; it then waits for the calls in flight and returns. An item
// leaves the queue while handled: handle pushes it again to be handled
// again. hold, when not nil, holds every item back for as long as it says
// (a paused API).
func (q *Queue[T]) Run(ctx context.Context, workers int, hold func(now time.Time) time.Duration, handle func(context.Context, T)) {
	slots := make(chan struct{}, max(1, workers))
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		now := time.Now()
		var wait time.Duration
		if hold != nil {
			wait = hold(now)
		}
		if wait <= 0 {
			v, ok, w := q.next(now)
			if ok {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slots }()
					handle(ctx, v)
				}()
				continue
			}
			wait = w
		}
		<-slots
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-q.wake:
			timer.Stop()
		case <-ctx.Done():
			return
		}
	}
}

type item[T any] struct {
	v  T
	at time.Time
}

// items is a min-heap by due time.
type items[T any] []item[T]

func (h items[T]) Len() int           { return len(h) }
func (h items[T]) Less(a, b int) bool { return h[a].at.Before(h[b].at) }
func (h items[T]) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *items[T]) Push(x any)        { *h = append(*h, x.(item[T])) }
func (h *items[T]) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = item[T]{} // so a dropped item can be collected
	*h = old[:len(old)-1]
	return it
}
