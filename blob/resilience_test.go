package blob_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blob"
	"github.com/engramhq/engram/clock"
)

// faultProxy is toxiproxy, in process, between an s3 store and versitygw.
type faultProxy struct {
	p *toxiproxy.Proxy
}

func newFaultProxy(t *testing.T, upstream string) *faultProxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "s3", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return &faultProxy{p: p}
}

func (f *faultProxy) endpoint() string { return "http://" + f.p.Listen }

// add installs a toxic on every connection, open or new, in one direction
// ("upstream": to the server, "downstream": to the client).
func (f *faultProxy) add(t *testing.T, name, typ, stream string, attrs map[string]any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if _, err := f.p.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		t.Fatalf("add toxic %s: %v", name, err)
	}
}

func (f *faultProxy) remove(t *testing.T, name string) {
	t.Helper()
	if err := f.p.Toxics.RemoveToxic(t.Context(), name); err != nil {
		t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// faultOptions are small enough for tests to fail in about a second:
// three attempts of 500 ms under a 1.5 s call timeout.
func faultOptions(clk clock.Clock) blob.Options {
	return blob.Options{
		Timeout: 1500 * time.Millisecond, AttemptTimeout: 500 * time.Millisecond, MaxAttempts: 3,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		BreakerThreshold: -1, Clock: clk,
	}
}

// faultStore opens an s3 store through a fresh proxy onto a fresh bucket.
func faultStore(t *testing.T, o blob.Options) (*blob.S3Store, *faultProxy) {
	t.Helper()
	g := s3Server(t)
	bucket := g.newBucket(t)
	u, err := url.Parse(g.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	fp := newFaultProxy(t, u.Host)
	// Checked after the store's Close and before the proxy stops (cleanups
	// run last-in first-out), so open connections to the proxy would show.
	leakOpts := append(toxiproxyFrames(), goleak.IgnoreCurrent())
	t.Cleanup(func() { goleak.VerifyNone(t, leakOpts...) })
	o.Credentials = &g.creds
	s := openS3(t, fmt.Sprintf("s3://%s/f?endpoint=%s", bucket, fp.endpoint()), o)
	return s, fp
}

// within fails the test if a failing call took longer than its timeout plus
// 10%, the bound the object tier promises.
func within(t *testing.T, what string, took, timeout time.Duration) {
	t.Helper()
	if limit := timeout + timeout/10; took > limit {
		t.Errorf("%s failed after %v; the promise is its timeout (%v) + 10%% = %v", what, took, timeout, limit)
	}
}

func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if engram.ErrorCode(err) != engram.EUNAVAILABLE {
		t.Fatalf("%s: %v (code %s), want unavailable", what, err, engram.ErrorCode(err))
	}
}

func mustPutS3(t *testing.T, s blob.Store, key string, data []byte) {
	t.Helper()
	if _, err := s.Put(t.Context(), key, bytes.NewReader(data), blob.PutOptions{}); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func TestS3Faults(t *testing.T) {
	s3Server(t) // started before the leak baseline: it outlives this test
	// Every goroutine of ours (transports, stream readers, timers) must be
	// gone once the stores are closed. toxiproxy v2.5.0 itself leaves link
	// goroutines blocked on channel sends after Proxy.Stop; those alone are
	// let go, by their frames.
	defer goleak.VerifyNone(t, append(toxiproxyFrames(), goleak.IgnoreCurrent())...)

	t.Run("LatencyUnderTheAttemptTimeoutIsTolerated", func(t *testing.T) {
		s, fp := faultStore(t, faultOptions(nil))
		fp.add(t, "lat", "latency", "downstream", map[string]any{"latency": 100})
		mustPutS3(t, s, "k", []byte("value"))
		if _, err := s.Stat(t.Context(), "k"); err != nil {
			t.Fatalf("Stat under 100 ms latency: %v", err)
		}
		if st := s.Stats(); st.Retries != 0 || st.Attempts < 2 {
			t.Fatalf("stats %+v: want two attempts and no retries", st)
		}
	})

	t.Run("ErrLatencyOverTheAttemptTimeoutIsRetriedThenFails", func(t *testing.T) {
		o := faultOptions(nil)
		s, fp := faultStore(t, o)
		mustPutS3(t, s, "k", []byte("value"))
		fp.add(t, "lat", "latency", "downstream", map[string]any{"latency": 2000})
		start := time.Now()
		_, err := s.Stat(t.Context(), "k")
		took := time.Since(start)
		wantUnavailable(t, "Stat under 2 s latency", err)
		within(t, "Stat under 2 s latency", took, o.Timeout)
		if st := s.Stats(); st.Retries < 1 {
			t.Fatalf("stats %+v: the timed-out attempt was not retried", st)
		}
	})

	t.Run("ErrBlackholeFailsWithinTheTimeout", func(t *testing.T) {
		// One attempt may use the whole call: the call's timeout binds.
		o := faultOptions(nil)
		o.AttemptTimeout = o.Timeout
		s, fp := faultStore(t, o)
		mustPutS3(t, s, "k", bytes.Repeat([]byte("x"), 1000))
		fp.add(t, "hole", "timeout", "upstream", map[string]any{"timeout": 0})
		calls := map[string]func() error{
			"Stat": func() error { _, err := s.Stat(t.Context(), "k"); return err },
			"Get":  func() error { _, err := s.Get(t.Context(), "k", 0, -1); return err },
			"Put": func() error {
				_, err := s.Put(t.Context(), "k2", strings.NewReader("v"), blob.PutOptions{})
				return err
			},
			"List":   func() error { _, err := s.List(t.Context(), blob.ListOptions{}); return err },
			"Delete": func() error { return s.Delete(t.Context(), "k") },
		}
		var wg sync.WaitGroup
		for name, call := range calls {
			for i := range 2 {
				wg.Go(func() {
					start := time.Now()
					err := call()
					took := time.Since(start)
					if engram.ErrorCode(err) != engram.EUNAVAILABLE {
						t.Errorf("%s #%d into a blackhole: %v, want unavailable", name, i, err)
					}
					within(t, name+" into a blackhole", took, o.Timeout)
				})
			}
		}
		wg.Wait()
		fp.remove(t, "hole")
		if _, err := s.Stat(t.Context(), "k"); err != nil {
			t.Fatalf("Stat once the blackhole is gone: %v (the Delete must not have landed either)", err)
		}
	})

	t.Run("ErrResetPeerIsRetriedThenFails", func(t *testing.T) {
		o := faultOptions(nil)
		s, fp := faultStore(t, o)
		fp.add(t, "reset", "reset_peer", "upstream", map[string]any{"timeout": 0})
		before := s.Stats()
		start := time.Now()
		_, err := s.Stat(t.Context(), "k")
		took := time.Since(start)
		wantUnavailable(t, "Stat through reset connections", err)
		within(t, "Stat through reset connections", took, o.Timeout)
		if st := s.Stats(); st.Attempts-before.Attempts != int64(o.MaxAttempts) {
			t.Fatalf("%d attempts, want MaxAttempts = %d", st.Attempts-before.Attempts, o.MaxAttempts)
		}
		fp.remove(t, "reset")
		if _, err := s.Stat(t.Context(), "k"); !errors.Is(err, engram.ErrNotFound) {
			t.Fatalf("Stat after the resets stop: %v, want not found", err)
		}
	})

	t.Run("GetResumesWhenTheStreamIsCut", func(t *testing.T) {
		s, fp := faultStore(t, faultOptions(nil))
		data := make([]byte, 2<<20+777)
		for i := range data {
			data[i] = byte(i * 7 / 5)
		}
		mustPutS3(t, s, "big", data)
		// Every connection closes after 900 KiB: the 2 MiB body needs
		// two resumed requests.
		fp.add(t, "cut", "limit_data", "downstream", map[string]any{"bytes": 900 << 10})
		rc, err := s.Get(t.Context(), "big", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read %d of %d bytes, equal %v, err %v", len(got), len(data), bytes.Equal(got, data), err)
		}
		if st := s.Stats(); st.Resumes < 2 {
			t.Fatalf("stats %+v: want at least two resumes", st)
		}
	})

	t.Run("ErrGetOfAReplacedObjectDoesNotMix", func(t *testing.T) {
		s, fp := faultStore(t, faultOptions(nil))
		old := bytes.Repeat([]byte("o"), 2<<20)
		mustPutS3(t, s, "v", old)
		fp.add(t, "cut", "limit_data", "downstream", map[string]any{"bytes": 900 << 10})
		rc, err := s.Get(t.Context(), "v", 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := io.ReadFull(rc, make([]byte, 512<<10)); err != nil {
			t.Fatal(err)
		}
		// Replaced while being read: the resumed request (the stream is cut
		// at 900 KiB) must not splice the new object onto the old.
		mustPutS3(t, s, "v", bytes.Repeat([]byte("n"), 2<<20))
		rest, err := io.ReadAll(rc)
		if bytes.Contains(rest, []byte("n")) {
			t.Fatalf("a resumed read mixed the new object into the old")
		}
		if !errors.Is(err, engram.ErrConflict) || engram.ErrorField(err) != "key" {
			t.Fatalf("resuming into a replaced object: %v, want a conflict naming key", err)
		}
	})

	t.Run("SlowStreamOutlivesTheAttemptTimeout", func(t *testing.T) {
		o := faultOptions(nil)
		s, fp := faultStore(t, o)
		data := bytes.Repeat([]byte("s"), 90<<10)
		mustPutS3(t, s, "slow", data)
		// 60 KB/s: 1.5 s for the body, three attempt timeouts, every read
		// making progress.
		fp.add(t, "bw", "bandwidth", "downstream", map[string]any{"rate": 60})
		start := time.Now()
		got := getAll(t, s, "slow")
		if took := time.Since(start); took < o.AttemptTimeout {
			t.Fatalf("read in %v: the bandwidth toxic did not slow it past the attempt timeout", took)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, want %d", len(got), len(data))
		}
		if st := s.Stats(); st.Resumes != 0 {
			t.Fatalf("a slow but moving stream was cut: %+v", st)
		}
	})

	t.Run("ErrStarvedPutFailsWithinTheTimeout", func(t *testing.T) {
		o := faultOptions(nil)
		s, fp := faultStore(t, o)
		fp.add(t, "bw", "bandwidth", "upstream", map[string]any{"rate": 20})
		start := time.Now()
		_, err := s.Put(t.Context(), "starved", bytes.NewReader(make([]byte, 1<<20)), blob.PutOptions{})
		took := time.Since(start)
		wantUnavailable(t, "Put at 20 KB/s", err)
		within(t, "Put at 20 KB/s", took, o.Timeout)
		// Whether the object lands once the proxy flushes what it held is
		// unknown, as with any timed-out request; the contract says so.
	})

	t.Run("BreakerOpensAtItsThresholdAndRecovers", func(t *testing.T) {
		clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		o := faultOptions(clk)
		o.BreakerThreshold, o.BreakerCooldown = 3, 30*time.Second
		s, fp := faultStore(t, o)
		mustPutS3(t, s, "k", []byte("v"))
		fp.add(t, "reset", "reset_peer", "upstream", map[string]any{"timeout": 0})
		for i := 1; i <= 3; i++ {
			_, err := s.Stat(t.Context(), "k")
			wantUnavailable(t, fmt.Sprintf("failing Stat %d", i), err)
			if errors.Is(err, blob.ErrCircuitOpen) {
				t.Fatalf("failing Stat %d met an open circuit before the threshold", i)
			}
			want := blob.BreakerClosed
			if i == 3 {
				want = blob.BreakerOpen
			}
			if st := s.Stats(); st.Breaker != want {
				t.Fatalf("after %d failed calls the breaker is %v, want %v", i, st.Breaker, want)
			}
		}
		// Open: calls fail at once, without a request.
		before := s.Stats()
		for range 5 {
			_, err := s.Stat(t.Context(), "k")
			if !errors.Is(err, blob.ErrCircuitOpen) || engram.ErrorCode(err) != engram.EUNAVAILABLE {
				t.Fatalf("Stat with the circuit open: %v", err)
			}
		}
		if st := s.Stats(); st.Attempts != before.Attempts {
			t.Fatalf("an open circuit sent %d requests", st.Attempts-before.Attempts)
		}
		clk.Advance(29 * time.Second)
		if _, err := s.Stat(t.Context(), "k"); !errors.Is(err, blob.ErrCircuitOpen) {
			t.Fatalf("before the cooldown: %v, want the circuit still open", err)
		}
		// After the cooldown one probe goes; the fault is still there, so
		// it opens again.
		clk.Advance(2 * time.Second)
		if _, err := s.Stat(t.Context(), "k"); engram.ErrorCode(err) != engram.EUNAVAILABLE || errors.Is(err, blob.ErrCircuitOpen) {
			t.Fatalf("the probe: %v, want it sent and failed", err)
		}
		if st := s.Stats(); st.Breaker != blob.BreakerOpen || st.BreakerOpens != 2 {
			t.Fatalf("after a failed probe: %+v, want open, opened twice", st)
		}
		// The fault heals; after the cooldown the probe succeeds and the
		// tier is back without anyone resetting it.
		fp.remove(t, "reset")
		clk.Advance(31 * time.Second)
		if _, err := s.Stat(t.Context(), "k"); err != nil {
			t.Fatalf("the probe after healing: %v", err)
		}
		if got := getAll(t, s, "k"); string(got) != "v" {
			t.Fatalf("after recovery Get = %q", got)
		}
		if st := s.Stats(); st.Breaker != blob.BreakerClosed {
			t.Fatalf("after recovery the breaker is %v", st.Breaker)
		}
	})
}

// toxiproxyFrames lets toxiproxy's own goroutines go: those of live links,
// and those v2.5.0 leaves blocked after Proxy.Stop.
func toxiproxyFrames() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).read"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*ToxicLink).write"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*Proxy).server"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2.(*Proxy).freeBlocker"),
	}
}

func getAll(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return b
}
