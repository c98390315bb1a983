// Package fifo is a first-in first-out queue over a slice, for the queues
// the connector and the sandbox keep in arrival order (records waiting to be
// sent, jobs and idempotency keys dropped oldest first).
package fifo

// Queue is a FIFO queue. Its zero value is empty and ready to use. A slice
// with a moving head costs no allocation per element; the dead prefix is
// reclaimed once it outweighs the live part, so memory stays proportional
// to what is queued and each element is copied O(1) times on average.
type Queue[T any] struct {
	items []T
	head  int
}

// Len is the number of queued elements.
func (q *Queue[T]) Len() int { return len(q.items) - q.head }

// Push adds v at the back.
func (q *Queue[T]) Push(v T) { q.items = append(q.items, v) }

// Peek returns the oldest element; the queue must not be empty.
func (q *Queue[T]) Peek() T { return q.items[q.head] }

// Pop removes and returns the oldest element; the queue must not be empty.
func (q *Queue[T]) Pop() T {
	var zero T
	v := q.items[q.head]
	q.items[q.head] = zero // the popped element can be collected
	q.head++
	if q.head > 64 && q.head > len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	return v
}

// Back returns the newest element; the queue must not be empty.
func (q *Queue[T]) Back() T { return q.items[len(q.items)-1] }

// Items returns the queued elements, oldest first. The slice aliases the
// queue: it is valid until the next Push or Pop.
func (q *Queue[T]) Items() []T { return q.items[q.head:] }
