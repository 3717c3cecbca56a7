package controller

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzRestore: restore never panics; input it refuses changes nothing (the
// whole input is validated before the first change) and the error is one
// line; input it accepts converges (a second restore makes no change) and
// survives a save/parse round trip.
func FuzzRestore(f *testing.F) {
	f.Add(canonical)
	f.Add("-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n")
	f.Add("-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:81 -g -w 1\n")
	f.Add("-A -u [fd00::100]:53 -s mh -b mh-port -o\n-a -u [fd00::100]:53 -r [fd00::11]:53 -i --tun-type gre --tun-csum\n")
	f.Add("-C\n-A -f 9 -6 -s rr -p -M 64\n-a -f 9 -6 -r [fd00::1] -m -x 5 -y 6\n")
	f.Add("-A --sctp-service=10.0.0.1:1 --persistent 9\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, fk, _ := newCtl()
		c.EnableForwarding = true
		start := "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n"
		if _, err := c.Restore(strings.NewReader(start), RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		logged := len(fk.Log)
		_, err := c.Restore(strings.NewReader(in), RestoreOptions{})
		if err != nil {
			if !IsInput(err) {
				t.Fatalf("non-input error from validated input %q: %v", in, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error spans lines: %q", err)
			}
			if len(fk.Log) != logged {
				t.Fatalf("refused input %q changed the table: %q", in, fk.Log[logged:])
			}
			return
		}
		if n, err := c.Restore(strings.NewReader(in), RestoreOptions{}); err != nil || n != 0 {
			t.Fatalf("second restore of %q: %d changes, %v", in, n, err)
		}
		tab, err := ReadTable(fk)
		if err != nil {
			t.Fatal(err)
		}
		var saved bytes.Buffer
		if err := Save(&saved, tab); err != nil {
			t.Fatal(err)
		}
		again, err := ParseRules(&saved)
		if err != nil {
			t.Fatalf("saved table does not parse: %v\n%s", err, saved.String())
		}
		if p := Plan(tab, again, PlanOptions{}); len(p) != 0 {
			t.Fatalf("save/parse round trip differs: %s", ops(p))
		}
	})
}
