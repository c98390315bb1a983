package enablenow

// fifo is a queue in insertion order. Jobs and idempotency keys are both
// dropped oldest first, so a queue is all the eviction order they need; a
// slice with a moving head avoids one allocation per element.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int { return len(q.items) - q.head }

func (q *fifo[T]) push(v T) { q.items = append(q.items, v) }

// peek returns the oldest element; the queue must not be empty.
func (q *fifo[T]) peek() T { return q.items[q.head] }

// pop removes and returns the oldest element; the queue must not be empty.
func (q *fifo[T]) pop() T {
	var zero T
	v := q.items[q.head]
	// Clear the slot so the popped element can be collected.
	q.items[q.head] = zero
	q.head++
	// Compact once the dead prefix outweighs the live part, so memory stays
	// proportional to what is queued and each element is copied O(1) times
	// on average.
	if q.head > len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	return v
}
