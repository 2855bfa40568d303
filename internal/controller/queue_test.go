package controller

import (
	"testing"
	"time"
)

func TestQueueCoalescesAndRequeuesDirtyKeys(t *testing.T) {
	steps := []struct {
		name string
		do   func(q *queue) string
		want string
	}{
		{"two adds of one key queue it once", func(q *queue) string {
			q.add("a")
			q.add("a")
			q.add("b")
			return itoa(q.len())
		}, "2"},
		{"get returns in order", func(q *queue) string { k, _ := q.get(); return k }, "a"},
		{"add while processing does not queue", func(q *queue) string { q.add("a"); return itoa(q.len()) }, "1"},
		{"done requeues the dirty key", func(q *queue) string { q.done("a"); return itoa(q.len()) }, "2"},
		{"b first", func(q *queue) string { k, _ := q.get(); q.done(k); return k }, "b"},
		{"then a again", func(q *queue) string { k, _ := q.get(); q.done(k); return k }, "a"},
		{"empty", func(q *queue) string { return itoa(q.len()) }, "0"},
	}
	q := newQueue()
	for _, s := range steps {
		if got := s.do(q); got != s.want {
			t.Fatalf("%s: got %q, want %q", s.name, got, s.want)
		}
	}
	q.close()
	if _, ok := q.get(); ok {
		t.Fatal("get after close returned a key")
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestQueueTakesUrgentKeysFirst(t *testing.T) {
	q := newQueue()
	for _, k := range []string{"a", "b", "c"} {
		q.add(k)
	}
	q.addUrgent("c") // queued in bulk already: moves ahead
	q.addUrgent("d")
	q.addUrgent("d")
	if n := q.len(); n != 4 {
		t.Fatalf("len %d, want 4", n)
	}
	var got []string
	for q.len() > 0 {
		k, _ := q.get()
		got = append(got, k)
		if k == "a" && len(got) == 3 {
			q.addUrgent("a") // added while processing: requeued urgently
		}
		q.done(k)
	}
	want := []string{"c", "d", "a", "a", "b"}
	if len(got) != len(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}

// A key written to while it is processed waits the settle delay once done;
// more writes meanwhile join that wait; anything else queues it at once.
func TestQueueSettlesKeysWrittenWhileProcessed(t *testing.T) {
	q := newQueue()
	defer q.close()
	q.settle = time.Hour
	q.addWrite("a") // not processed: queued at once
	if n := q.len(); n != 1 {
		t.Fatalf("a write to an idle key: len %d, want 1", n)
	}
	k, _ := q.get()
	q.addWrite(k)
	q.done(k)
	if n := q.len(); n != 0 {
		t.Fatalf("a key written to while processed was queued at once (len %d)", n)
	}
	if n := q.waiting(); n != 1 {
		t.Fatalf("a settling key is not counted as waiting (waiting %d, want 1)", n)
	}
	q.addWrite(k) // joins the wait
	if n := q.len(); n != 0 {
		t.Fatalf("a write during the settle delay queued the key (len %d)", n)
	}
	q.addUrgent(k) // an acknowledgement: at once
	if n := q.len(); n != 1 {
		t.Fatalf("an urgent add during the settle delay: len %d, want 1", n)
	}
	k, _ = q.get()
	q.addWrite(k)
	q.addUrgent(k) // something other than a write while processed
	q.done(k)
	if n := q.len(); n != 1 {
		t.Fatalf("a key acknowledged while processed: len %d, want 1", n)
	}
	k, _ = q.get()
	q.done(k)

	// The wait ends: the key is queued.
	q2 := newQueue()
	defer q2.close()
	q2.settle = 20 * time.Millisecond
	q2.addWrite("b")
	k, _ = q2.get()
	q2.addWrite(k)
	q2.done(k)
	deadline := time.Now().Add(10 * time.Second)
	for q2.len() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a settling key was never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if k, _ := q2.get(); k != "b" {
		t.Fatalf("got %q, want b", k)
	}
}

// The wait grows with how long the processing took, within its bounds.
func TestQueueSettleGrowsWithProcessingTime(t *testing.T) {
	q := newQueue()
	defer q.close()
	q.settle = 20 * time.Millisecond
	for _, c := range []struct{ took, want time.Duration }{
		{0, 20 * time.Millisecond},
		{time.Millisecond, 20 * time.Millisecond},
		{5 * time.Millisecond, 100 * time.Millisecond},
		{time.Minute, time.Second},
	} {
		if got := q.settleFor(c.took); got != c.want {
			t.Errorf("processing that took %v: wait %v, want %v", c.took, got, c.want)
		}
	}
}
