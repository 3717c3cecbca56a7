package controller

import (
	"errors"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// tornReads answers the first reads as the kernel's position-walking dumps
// do while another program changes the table: the service dump repeats
// one service (one added before the walk's position) or skips one (one
// removed before it); the real server dumps repeat one real server.
type tornReads struct {
	*ipvs.Fake
	svcRepeat, svcSkip, destRepeat int // how many more dumps to tear
}

func (t *tornReads) Services() ([]ipvs.Service, error) {
	s, err := t.Fake.Services()
	switch {
	case len(s) < 2:
	case t.svcRepeat > 0:
		t.svcRepeat--
		s = append(s[:1:1], s...)
	case t.svcSkip > 0:
		t.svcSkip--
		s = s[1:]
	}
	return s, err
}

func (t *tornReads) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	d, err := t.Fake.Destinations(k)
	if len(d) > 0 && t.destRepeat > 0 {
		t.destRepeat--
		d = append(d, d[0])
	}
	return d, err
}

const churnRules = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.11:80 -g -w 1\n" +
	"-A -t 10.0.0.2:80 -s rr\n-a -t 10.0.0.2:80 -r 10.0.0.11:80 -g -w 1\n-a -t 10.0.0.2:80 -r 10.0.0.12:80 -g -w 1\n"

// A read that comes with a service or real server twice is dumped again:
// save never repeats a line (ipvsadm -R refuses a repeated -A), and a
// table read torn more than 5 times is an error, not a table.
func TestReadTableDumpsAgainOnRepeats(t *testing.T) {
	c, f, _ := newCtl()
	if _, err := c.Restore(strings.NewReader(churnRules), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	want := saved(t, f)
	torn := &tornReads{Fake: f, svcRepeat: 2, destRepeat: 2}
	tab, err := ReadTable(torn)
	if err != nil {
		t.Fatal(err)
	}
	tab.Sort()
	var b strings.Builder
	if err := Save(&b, tab); err != nil || b.String() != want {
		t.Errorf("save of a torn read: %v\n%s\nwant\n%s", err, b.String(), want)
	}
	// Torn every time (a table churned without pause): each key once.
	tab, err = ReadTable(&tornReads{Fake: f, svcRepeat: readAttempts, destRepeat: 100})
	if err != nil {
		t.Fatal(err)
	}
	tab.Sort()
	b.Reset()
	if err := Save(&b, tab); err != nil || b.String() != want {
		t.Errorf("save of a read torn %d times: %v\n%s\nwant\n%s", readAttempts, err, b.String(), want)
	}
}

// A restore planned from a read that skipped a service (removed and added
// back by another program around the read) is told by the kernel that the
// service already exists: it reads again and plans the rest, instead of
// failing on its own stale read.
func TestRestoreReplansAfterStaleRead(t *testing.T) {
	c, f, out := newCtl()
	if _, err := c.Restore(strings.NewReader(churnRules), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	c.IPVS = &tornReads{Fake: f, svcSkip: 1}
	n, err := c.Restore(strings.NewReader(churnRules+"-A -t 10.0.0.3:80 -s rr\n"), RestoreOptions{})
	if err != nil || n != 1 || !strings.Contains(out.String(), "the table changed after it was read") {
		t.Fatalf("restore after a read that skipped a service: %d, %v\n%s", n, err, out)
	}
	if got := saved(t, f); strings.Count(got, "-A") != 3 || strings.Count(got, "-a") != 3 {
		t.Errorf("table:\n%s", got)
	}
	// A real refusal is not a stale read: no second plan.
	out.Reset()
	f.Schedulers = []string{"rr"}
	c.IPVS = f
	if _, err := c.Restore(strings.NewReader(churnRules+"-A -t 10.0.0.4:80 -s mh\n"), RestoreOptions{}); !errors.Is(err, ipvs.ErrScheduler) ||
		strings.Contains(out.String(), "changed after") {
		t.Errorf("restore with a refusal: %v\n%s", err, out)
	}
}

// A table churned without pause tears every dump: each read skips a
// service. The re-plan reads the input's own services by key, so the
// restore succeeds however many dumps tear (in the lab's churn, four
// torn reads in a row made a restore fail on its own stale read).
func TestRestoreReplanReadsItsServicesByKey(t *testing.T) {
	c, f, out := newCtl()
	if _, err := c.Restore(strings.NewReader(churnRules), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	c.IPVS = &tornReads{Fake: f, svcSkip: 1000}
	edited := strings.ReplaceAll(churnRules, "-w 1", "-w 2")
	n, err := c.Restore(strings.NewReader(edited), RestoreOptions{PlanOptions: PlanOptions{KeepExtra: true}})
	if err != nil || n != 3 || strings.Count(out.String(), "the table changed after it was read") != 1 {
		t.Fatalf("restore while every dump skips a service: %d, %v\n%s", n, err, out)
	}
	if got := saved(t, f); strings.Count(got, "-w 2") != 3 || strings.Count(got, "-A") != 2 {
		t.Errorf("table:\n%s", got)
	}
}
