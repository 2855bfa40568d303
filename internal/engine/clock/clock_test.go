package clock

import (
	"testing"
	"time"
)

func TestFakeAdvance(t *testing.T) {
	start := time.Unix(100, 0)
	f := NewFake(start)
	fired := make(chan int, 3)
	f.AfterFunc(2*time.Second, func() { fired <- 2 })
	f.AfterFunc(time.Second, func() { fired <- 1 })
	stopped := f.AfterFunc(time.Second, func() { fired <- 99 })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatalf("Stop should report true once")
	}
	if f.Pending() != 2 {
		t.Fatalf("pending %d, want 2", f.Pending())
	}
	f.Advance(999 * time.Millisecond)
	select {
	case v := <-fired:
		t.Fatalf("timer %d fired early", v)
	default:
	}
	f.Advance(time.Millisecond)
	if v := <-fired; v != 1 {
		t.Fatalf("got %d, want the 1 s timer", v)
	}
	f.Advance(time.Second)
	if v := <-fired; v != 2 {
		t.Fatalf("got %d, want the 2 s timer", v)
	}
	if got := f.Now(); !got.Equal(start.Add(2 * time.Second)) {
		t.Fatalf("now %v", got)
	}
	if !f.WaitPending(0, time.Second) || f.WaitPending(1, 50*time.Millisecond) {
		t.Fatalf("WaitPending")
	}
}
