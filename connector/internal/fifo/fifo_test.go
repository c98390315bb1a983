package fifo

import "testing"

func TestQueueKeepsOrderAndReclaims(t *testing.T) {
	var q Queue[int]
	next := 0
	for i := range 10000 {
		q.Push(i)
		if i%3 == 0 {
			if got := q.Pop(); got != next {
				t.Fatalf("pop %d, want %d", got, next)
			}
			next++
		}
	}
	if q.Len() != 10000-next || q.Peek() != next {
		t.Fatalf("len %d peek %d, want %d and %d", q.Len(), q.Peek(), 10000-next, next)
	}
	for q.Len() > 0 {
		if got := q.Pop(); got != next {
			t.Fatalf("pop %d, want %d", got, next)
		}
		next++
	}
	if q.head > 64 || len(q.items) > 128 {
		t.Fatalf("dead prefix kept: head %d, %d items", q.head, len(q.items))
	}
}
