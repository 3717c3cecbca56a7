package controller

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// saved is the fake kernel's table in -S format.
func saved(t *testing.T, f *ipvs.Fake) string {
	t.Helper()
	tab, err := ReadTable(f)
	if err != nil {
		t.Fatal(err)
	}
	tab.Sort()
	var b bytes.Buffer
	if err := Save(&b, tab); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The case: services :7000 and :7001 in the kernel; a restore whose
// line 3 asks for an mh service the kernel cannot load. The fake carries on
// after the refusal as the kernel does (lab: controller-phased.sh), so only
// the phases keep :7000, whose removal must wait for every addition.
func TestRestoreCutShortNeverLeavesLess(t *testing.T) {
	c, f, out := newCtl()
	old := "-A -t 10.0.0.1:7000 -s rr\n-a -t 10.0.0.1:7000 -r 10.0.0.11:7000 -g -w 1\n" +
		"-A -t 10.0.0.1:7001 -s rr\n-a -t 10.0.0.1:7001 -r 10.0.0.11:7001 -g -w 1\n"
	if _, err := c.Restore(strings.NewReader(old), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Schedulers = []string{"rr", "wrr"}
	next := "-A -t 10.0.0.1:7001 -s rr\n" +
		"-a -t 10.0.0.1:7001 -r 10.0.0.12:7001 -g -w 1\n" +
		"-A -t 10.0.0.1:7002 -s mh\n" +
		"-a -t 10.0.0.1:7002 -r 10.0.0.12:7002 -g -w 1\n" +
		"-A -t 10.0.0.1:7003 -s wrr\n"
	out.Reset()
	n, err := c.Restore(strings.NewReader(next), RestoreOptions{})
	want := "applied 2 of 6 changes, then: line 3: service TCP 10.0.0.1:7002: \"mh\": " + ipvs.ErrScheduler.Error()
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ipvs.ErrScheduler) || n != 2 {
		t.Fatalf("restore: %d, %v\nwant %d, %q...", n, err, 2, want)
	}
	if !strings.HasSuffix(err.Error(), "(in all: 2 refused, 2 not sent)") {
		t.Errorf("counts: %v", err)
	}
	// Everything the kernel had is still there, with what was added (the
	// kernel handled the rest of the batch: :7003 was made).
	got := saved(t, f)
	for _, l := range []string{"-A -t 10.0.0.1:7000 -s rr", "-a -t 10.0.0.1:7000 -r 10.0.0.11:7000", "-a -t 10.0.0.1:7001 -r 10.0.0.11:7001",
		"-a -t 10.0.0.1:7001 -r 10.0.0.12:7001", "-A -t 10.0.0.1:7003 -s wrr"} {
		if !strings.Contains(got, l) {
			t.Errorf("after the refusal the table lacks %q:\n%s", l, got)
		}
	}
	// The output says what became of each change, then what still differs.
	for _, l := range []string{
		"applied: add real server 10.0.0.12:7001 to TCP 10.0.0.1:7001 (missing)",
		"refused: line 3: service TCP 10.0.0.1:7002",
		"refused: line 4: add real server 10.0.0.12:7002 to TCP 10.0.0.1:7002: " + ipvs.ErrNotFound.Error(),
		"applied: add service TCP 10.0.0.1:7003 (missing)",
		"not sent: remove service TCP 10.0.0.1:7000 (not in the desired table)",
		"not sent: remove real server 10.0.0.11:7001 from TCP 10.0.0.1:7001 (not in the desired table)",
		"the table read again still differs from the input by 4 changes:",
		"  to add service TCP 10.0.0.1:7002 (missing)",
		"  to remove service TCP 10.0.0.1:7000 (not in the desired table)",
	} {
		if !strings.Contains(out.String(), l) {
			t.Errorf("output lacks %q:\n%s", l, out.String())
		}
	}
}

// A refusal names the input line of the -A or -a that asked for the change;
// removals come from the kernel's table and have none.
func TestRestoreRefusalNamesLine(t *testing.T) {
	c, f, _ := newCtl()
	old := "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.11:80 -g -w 1\n"
	if _, err := c.Restore(strings.NewReader(old), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	in := "# comment\n-A -t 10.0.0.1:80 -s rr\n\n-a -t 10.0.0.1:80 -r 10.0.0.11:80 -g -w 2\n-A -t 10.0.0.2:80 -s wrr\n-a -t 10.0.0.2:80 -r 10.0.0.12:80 -g -w 1\n"
	for _, c2 := range []struct{ fail, want string }{
		{"update-dest", "applied 2 of 3 changes, then: line 4: boom (in all: 1 refused)"},
		// The real server of a refused service is refused too (no service).
		{"create-service", "applied 1 of 3 changes, then: line 5: boom (in all: 2 refused)"},
		{"create-dest", "applied 2 of 3 changes, then: line 6: boom (in all: 1 refused)"},
	} {
		f.Fail = func(op string) error {
			if strings.HasPrefix(op, c2.fail) {
				return errors.New("boom")
			}
			return nil
		}
		_, err := c.Restore(strings.NewReader(in), RestoreOptions{})
		if err == nil || err.Error() != c2.want {
			t.Errorf("%s refused: %v, want %q", c2.fail, err, c2.want)
		}
		f.Fail = nil
		if _, err := c.Restore(strings.NewReader(old), RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	f.Fail = func(op string) error {
		if strings.HasPrefix(op, "remove-dest") {
			return errors.New("boom")
		}
		return nil
	}
	_, err := c.Restore(strings.NewReader("-A -t 10.0.0.1:80 -s rr\n"), RestoreOptions{})
	if err == nil || err.Error() != "applied 0 of 1 changes, then: boom (in all: 1 refused)" {
		t.Errorf("removal refused: %v", err)
	}
}

// bigTable is a rules file of n fwmark services, each with one real server.
func bigTable(n, port int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "-A -f %d -s rr\n-a -f %d -r 10.0.0.11:%d -g -w 1\n", i, i, port)
	}
	return b.String()
}

// Several batches: a refusal in the first batch of the additions stops
// them after that batch (the rest of it is still made, as on the kernel),
// and no removal is sent.
func TestApplySeveralBatchesStopAfterRefusal(t *testing.T) {
	c, f, _ := newCtl()
	if _, err := c.Restore(strings.NewReader(bigTable(300, 80)), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if f.Batches != 3 { // 600 additions
		t.Errorf("%d batches for 600 changes, want 3", f.Batches)
	}
	// Moving every real server to port 81: 300 additions, 300 removals.
	f.Fail = func(op string) error {
		if op == "create-dest FWM 10 10.0.0.11:81" {
			return errors.New("boom")
		}
		return nil
	}
	f.Batches = 0
	r, err := Apply(c.IPVS, Plan(mustTable(t, bigTable(300, 80)), mustTable(t, bigTable(300, 81)), PlanOptions{}))
	if err == nil || r.Applied() != ipvs.BatchSize-1 || f.Batches != 1 {
		t.Fatalf("applied %d in %d batches, %v; want %d in 1", r.Applied(), f.Batches, err, ipvs.BatchSize-1)
	}
	if !strings.Contains(err.Error(), "(in all: 1 refused, 344 not sent)") {
		t.Errorf("error: %v", err)
	}
	if ds, _ := f.Destinations(ipvs.ServiceKey{FWMark: 300}); len(ds) != 1 {
		t.Errorf("a removal ran after a refused addition: %+v", ds)
	}
}

// An addition whose answer was lost (unknown outcome) holds the removals
// back as a refusal does.
func TestApplyUnknownOutcomeStops(t *testing.T) {
	c, f, out := newCtl()
	if _, err := c.Restore(strings.NewReader(bigTable(2, 80)), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Lose = func(op string) bool { return strings.HasPrefix(op, "add real server 10.0.0.11:81 to FWM 1") }
	out.Reset()
	_, err := c.Restore(strings.NewReader(bigTable(2, 81)), RestoreOptions{})
	if !errors.Is(err, ipvs.ErrUnknownOutcome) || !strings.Contains(err.Error(), "(in all: 2 of unknown outcome, 2 not sent)") {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(out.String(), "outcome unknown: add real server 10.0.0.11:81 to FWM 2") {
		t.Errorf("output:\n%s", out.String())
	}
	if got := saved(t, f); strings.Count(got, ":80") != 2 || strings.Count(got, ":81") != 2 {
		t.Errorf("table:\n%s", got)
	}
}
