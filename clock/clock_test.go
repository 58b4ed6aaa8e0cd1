package clock

import (
	"testing"
	"time"
)

func TestManualAdvanceMovesNow(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewManual(start)
	m.Advance(90 * time.Second)
	if got, want := m.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Fatalf("Now() = %v, want %v", got, want)
	}
}

func TestManualTickerFiresOnlyWhenDue(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	tk := m.NewTicker(10 * time.Second)
	defer tk.Stop()
	m.Advance(9 * time.Second)
	select {
	case <-tk.C():
		t.Fatal("ticked before the interval passed")
	default:
	}
	m.Advance(time.Second)
	select {
	case at := <-tk.C():
		if !at.Equal(time.Unix(10, 0)) {
			t.Fatalf("tick at %v, want %v", at, time.Unix(10, 0))
		}
	default:
		t.Fatal("no tick after the interval passed")
	}
	// A jump over three ticks delivers one (the channel holds one) and stays on schedule.
	m.Advance(35 * time.Second)
	if at := <-tk.C(); !at.Equal(time.Unix(20, 0)) {
		t.Fatalf("first tick after the jump at %v, want %v", at, time.Unix(20, 0))
	}
	select {
	case at := <-tk.C():
		t.Fatalf("a dropped tick was delivered: %v", at)
	default:
	}
	m.Advance(5 * time.Second) // now 50: the tick due at 50 fires
	if at := <-tk.C(); !at.Equal(time.Unix(50, 0)) {
		t.Fatalf("tick at %v, want %v", at, time.Unix(50, 0))
	}
}

func TestManualStoppedTickerIsSilent(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	tk := m.NewTicker(time.Second)
	tk.Stop()
	m.Advance(time.Minute)
	select {
	case <-tk.C():
		t.Fatal("a stopped ticker ticked")
	default:
	}
}
