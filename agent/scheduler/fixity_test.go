package scheduler_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/scheduler"
	"github.com/custos-evidence/custos/chain"
	"github.com/custos-evidence/custos/storage"
)

// threeItems are 3 items of 3000 bytes each.
var threeItems = map[string]string{
	"a.eml": strings.Repeat("a", 3000), "b.eml": strings.Repeat("b", 3000), "c.eml": strings.Repeat("c", 3000),
}

// fixityConfig is f's configuration with a fixity round a day reading at
// most rate bytes per second, whose waits move the fake clock.
func (f *fixture) fixityScheduler(t *testing.T, rate int64, tick time.Duration, fx *capture.Fixity) (*scheduler.Scheduler, *time.Duration) {
	cfg := f.config()
	cfg.FixityEvery, cfg.FixityRate, cfg.Tick, cfg.Fixity = day, rate, tick, fx
	s := f.scheduler(t, cfg)
	slept := new(time.Duration)
	scheduler.SetSleep(s, func(_ context.Context, d time.Duration) error {
		*slept += d
		f.clk.Add(d)
		return nil
	})
	return s, slept
}

// fixityEvents returns the fixity events of order id by item key: a
// batch's fixity.verified under its one item's key (the fixture seals an
// item a batch).
func (f *fixture) fixityEvents(t *testing.T, id string) map[string][]*chain.Event {
	itemOf := map[string]string{} // manifest key -> item key
	items, err := f.reg.LoggedItems(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		itemOf[it.Batch.Key()] = it.Key
	}
	out := map[string][]*chain.Event{}
	for _, e := range f.events(t, id) {
		if e.Type == chain.FixityVerified || e.Type == chain.FixityFailed {
			key := e.Details["key"]
			if key == "" {
				key = itemOf[e.Details["manifest"]]
			}
			out[key] = append(out[key], e)
		}
	}
	return out
}

// manifestBytes is the size of order id's manifests, which a round reads
// too.
func (f *fixture) manifestBytes(t *testing.T, id string) int64 {
	items, err := f.reg.LoggedItems(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, it := range items {
		info, err := f.store.Stat(context.Background(), it.Batch.Key())
		if err != nil {
			t.Fatal(err)
		}
		n += info.Size
	}
	return n
}

func TestFixityFindsAFlippedByteWithinTheRateLimit(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	rep := f.capture(t, o.ID, threeItems)
	bad := capture.ItemKey(o.ID, rep.Items[1].Digests.SHA256)
	f.flipByte(t, bad)
	const rate = 1000
	s, slept := f.fixityScheduler(t, rate, 0, nil)

	start := f.clk.Now()
	r := step(t, s)
	if r.FixityChecked != 3 || r.FixityFailed != 1 || r.FixityRemaining != 0 {
		t.Fatalf("fixity step: %+v", r)
	}
	// 9000 bytes and the batches' manifests at 1000 bytes/s, the first
	// second's worth at once: at least that less a second on the clock,
	// and not much more.
	total := 9000 + f.manifestBytes(t, o.ID)
	elapsed, least := f.clk.Now().Sub(start), time.Duration(total-rate)*time.Second/rate
	if elapsed < least || elapsed > least+time.Second || *slept != elapsed {
		t.Fatalf("%d bytes read in %v (slept %v) at %d bytes/s", total, elapsed, *slept, rate)
	}
	for key, evs := range f.fixityEvents(t, o.ID) {
		want := chain.FixityVerified
		if key == bad {
			want = chain.FixityFailed
		}
		if len(evs) != 1 || evs[0].Type != want || evs[0].Actor != "custos scheduler (agent-1)" {
			t.Fatalf("fixity events of %s: %+v", key, evs)
		}
	}
	lines := f.logs.lines(t, "fixity failed")
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["key"] != bad || lines[0]["order"] != o.ID {
		t.Fatalf("fixity failure log lines: %v", lines)
	}

	f.clk.Add(time.Hour)
	if r := step(t, s); r.FixityChecked != 0 {
		t.Fatalf("a round before the next was due: %+v", r)
	}
	f.clk.Set(start.Add(day))
	if r := step(t, s); r.FixityChecked != 3 || r.FixityFailed != 1 {
		t.Fatalf("the next day's round: %+v", r)
	}
}

func TestFixityRoundIsSlicedAcrossSteps(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	f.capture(t, o.ID, threeItems)
	// Each item takes 2-3 s at 1000 bytes/s; a Step spends about a Tick.
	s, _ := f.fixityScheduler(t, 1000, 2*time.Second, nil)
	var checked []int
	for range 5 {
		r := step(t, s)
		checked = append(checked, r.FixityChecked)
		if r.FixityRemaining == 0 {
			break
		}
	}
	if len(checked) != 3 || checked[0] != 1 || checked[1] != 1 || checked[2] != 1 {
		t.Fatalf("items checked per step: %v, want 1 1 1", checked)
	}
	if evs := f.fixityEvents(t, o.ID); len(evs) != 3 {
		t.Fatalf("fixity events: %v", evs)
	}
}

// flakyStore does not answer while down.
type flakyStore struct {
	capture.FixityStore
	down bool
}

func (s *flakyStore) Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error) {
	if s.down {
		return nil, nil, storage.ErrUnavailable
	}
	return s.FixityStore.Get(ctx, key)
}

func TestFixityWaitsForAStoreThatDoesNotAnswer(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	f.capture(t, o.ID, threeItems)
	store := &flakyStore{FixityStore: f.store, down: true}
	s, _ := f.fixityScheduler(t, 0, 0, &capture.Fixity{Store: store, Log: f.log, Agent: "agent-1", Host: "host-1"})
	r := step(t, s)
	if r.FixityChecked != 0 || r.FixityRemaining != 3 || len(r.Errors) != 1 {
		t.Fatalf("step with the store down: %+v", r)
	}
	if evs := f.fixityEvents(t, o.ID); len(evs) != 0 {
		t.Fatalf("an outage recorded as fixity results: %v", evs)
	}
	store.down = false
	f.clk.Add(time.Minute)
	if r := step(t, s); r.FixityChecked != 3 || r.FixityFailed != 0 || r.FixityRemaining != 0 {
		t.Fatalf("step with the store back: %+v", r)
	}
}

func TestFixityLeavesReleasedOrdersAlone(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	f.capture(t, o.ID, map[string]string{"a.eml": "first\n"})
	if _, err := f.reg.Release(context.Background(), o.ID, "withdrawn by the authority", "custodian@example.net"); err != nil {
		t.Fatal(err)
	}
	s, _ := f.fixityScheduler(t, 0, 0, nil)
	if r := step(t, s); r.FixityChecked != 0 || len(r.Errors) != 0 {
		t.Fatalf("fixity of a released order: %+v", r)
	}
}

// refusingStore refuses to read one key, or every key when all is set,
// as a store refuses a reader the permission: not a judgement on the item.
type refusingStore struct {
	capture.FixityStore
	key string
	all bool
}

func (r *refusingStore) Get(ctx context.Context, key string) (io.ReadCloser, *storage.ObjectInfo, error) {
	if key == r.key || r.all {
		return nil, nil, fmt.Errorf("get %s: %w", key, fs.ErrPermission)
	}
	return r.FixityStore.Get(ctx, key)
}

func TestFixityRoundPassesOverAnUnreadableItem(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	rep := f.capture(t, o.ID, threeItems)
	refused := capture.ItemKey(o.ID, rep.Items[0].Digests.SHA256)
	store := &refusingStore{FixityStore: f.reg.Store, key: refused}
	fx := &capture.Fixity{Store: store, Log: f.reg.Log, Agent: f.reg.Agent, Host: f.reg.Host}
	s, _ := f.fixityScheduler(t, 0, 0, fx)

	r := step(t, s)
	if r.FixityChecked != 2 || r.FixityUnchecked != 1 || r.FixityFailed != 0 || r.FixityRemaining != 0 || len(r.Errors) != 1 {
		t.Fatalf("fixity step: %+v", r)
	}
	evs := f.fixityEvents(t, o.ID)
	if len(evs) != 2 || len(evs[refused]) != 0 {
		t.Fatalf("fixity events: %+v", evs)
	}
	for _, e := range evs {
		if len(e) != 1 || e[0].Type != chain.FixityVerified {
			t.Fatalf("fixity events: %+v", evs)
		}
	}
	if lines := f.logs.lines(t, "fixity: an item could not be read and was not checked; it is tried again later"); len(lines) != 1 || lines[0]["key"] != refused {
		t.Fatalf("log lines: %v", lines)
	}

	// The item is tried again an hour later, alone; readable now, it
	// verifies.
	store.key = ""
	f.clk.Add(30 * time.Minute)
	if r := step(t, s); r.FixityChecked != 0 {
		t.Fatalf("a retry before its time: %+v", r)
	}
	f.clk.Add(31 * time.Minute)
	if r := step(t, s); r.FixityChecked != 1 || r.FixityUnchecked != 0 || r.FixityRemaining != 0 {
		t.Fatalf("the retry: %+v", r)
	}
	if evs := f.fixityEvents(t, o.ID)[refused]; len(evs) != 1 || evs[0].Type != chain.FixityVerified {
		t.Fatalf("fixity events of the item tried again: %+v", evs)
	}
}

func TestFixityRoundPausesWhenTheStoreRefusesEveryRead(t *testing.T) {
	f := newFixture(t, 0)
	o := f.addOrder(t, "us-2703f")
	f.capture(t, o.ID, threeItems)
	store := &refusingStore{FixityStore: f.reg.Store, all: true}
	fx := &capture.Fixity{Store: store, Log: f.reg.Log, Agent: f.reg.Agent, Host: f.reg.Host}
	s, _ := f.fixityScheduler(t, 0, 0, fx)

	// Two reads are passed over (the first batch's manifest and item);
	// the third in a row (the second batch's manifest) pauses the round
	// on that batch.
	r := step(t, s)
	if r.FixityChecked != 0 || r.FixityUnchecked != 2 || r.FixityRemaining != 2 {
		t.Fatalf("fixity step with every read refused: %+v", r)
	}
	if lines := f.logs.lines(t, "fixity round paused; it goes on at the next step"); len(lines) != 1 {
		t.Fatalf("log lines: %v", lines)
	}
	if evs := f.fixityEvents(t, o.ID); len(evs) != 0 {
		t.Fatalf("fixity events: %+v", evs)
	}

	// Reads allowed again: the round goes on where it paused, and the two
	// passed over are tried again later.
	store.all = false
	f.clk.Add(time.Minute)
	if r := step(t, s); r.FixityChecked != 2 || r.FixityRemaining != 0 {
		t.Fatalf("the round resumed: %+v", r)
	}
	f.clk.Add(time.Hour)
	if r := step(t, s); r.FixityChecked != 1 || r.FixityUnchecked != 0 {
		t.Fatalf("the retry: %+v", r)
	}
	for key, evs := range f.fixityEvents(t, o.ID) {
		if len(evs) != 1 || evs[0].Type != chain.FixityVerified {
			t.Fatalf("fixity events of %s: %+v", key, evs)
		}
	}
}
