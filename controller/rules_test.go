package controller

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// canonical covers every scheduler, protocol, family, method, tunnel type,
// service flag and the sip persistence engine, and masks that are not
// prefixes, in ipvsadm -S -n's exact text and order; also a DR real
// server on another port than its service's, which the kernel accepts from
// other clients (ipvsadm -R would move it to port 80).
const canonical = `-A -t 10.0.0.100:21 -s rr
-a -t 10.0.0.100:21 -r 10.0.0.11:21 -g -w 1
-A -t 10.0.0.100:80 -s wrr -p 300
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3
-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 0
-a -t 10.0.0.100:80 -r 10.0.0.13:8080 -g -w 1
-A -t 10.0.0.100:443 -s lc -p 60 -M 255.255.255.0
-a -t 10.0.0.100:443 -r 10.0.0.11:8443 -m -w 1
-A -t 10.0.0.100:444 -s wlc
-a -t 10.0.0.100:444 -r 10.0.0.11:444 -i -w 1 --tun-type ipip
-a -t 10.0.0.100:444 -r 10.0.0.12:444 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t 10.0.0.100:444 -r 10.0.0.13:444 -i -w 1 --tun-type gre --tun-nocsum
-A -t 10.0.0.100:445 -s lblc
-A -t 10.0.0.100:446 -s lblcr
-A -t 10.0.0.100:447 -s dh
-A -t 10.0.0.100:448 -s sh -b sh-fallback,sh-port
-A -t 10.0.0.100:449 -s sed
-A -t 10.0.0.100:450 -s nq
-A -t 10.0.0.100:451 -s fo
-A -t 10.0.0.100:452 -s ovf
-A -t 10.0.0.100:453 -s mh -b mh-port
-a -t 10.0.0.100:453 -r 10.0.0.11:453 -g -w 1 -x 100 -y 10
-A -t 10.0.0.100:454 -s rr -p 60 -M 0.0.0.24
-A -t 10.0.0.100:455 -s rr -p 60 -M 255.0.255.0
-A -u 10.0.0.100:53 -s rr -o
-a -u 10.0.0.100:53 -r 10.0.0.11:5353 -m -w 2
-A -u 10.0.0.100:5060 -s rr -p 60 -M 255.255.255.0 --pe sip -o
-a -u 10.0.0.100:5060 -r 10.0.0.11:5060 -m -w 1
-A -u 10.0.0.100:5062 -s rr --pe sip
-A --sctp-service 10.0.0.100:3868 -s rr
-a --sctp-service 10.0.0.100:3868 -r 10.0.0.11:3868 -g -w 1
-A -t [fd00::100]:80 -s rr -p 120 -M 64
-a -t [fd00::100]:80 -r [fd00::11]:80 -g -w 1
-a -t [fd00::100]:80 -r 10.0.0.12:80 -i -w 1 --tun-type ipip
-A -f 1 -s rr
-a -f 1 -r 10.0.0.11:0 -g -w 1
-A -f 2 -6 -s wlc -p 300
-a -f 2 -6 -r [fd00::11]:0 -g -w 1
`

func TestSaveRoundTrip(t *testing.T) {
	tab, err := ParseRules(strings.NewReader(canonical))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Save(&b, tab); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != canonical {
		t.Errorf("save(parse(canonical)) differs:\n got:\n%s\nwant:\n%s", got, canonical)
	}
}

func TestParseRulesAccepts(t *testing.T) {
	in := `# comment

-C
--add-service --tcp-service=10.0.0.100:80 --scheduler rr --persistent
-a -t 10.0.0.100:80 -r 10.0.0.11 -m
-A -t 10.0.0.100:0 -s rr -p
-a -t 10.0.0.100:0 -r 10.0.0.11 -g
`
	tab, err := ParseRules(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	s := tab.Services[0]
	if s.Service.Timeout != 300 || s.Service.Flags&ipvs.FlagPersistent == 0 {
		t.Errorf("bare --persistent: got timeout %d flags %#x", s.Service.Timeout, s.Service.Flags)
	}
	if d := s.Dests[0]; d.Port != 80 || d.Forward != ipvs.Masq || d.Weight != 1 {
		t.Errorf("real server defaults: %+v", d)
	}
	if d := tab.Services[1].Dests[0]; d.Port != 0 {
		t.Errorf("port-0 service's real server port = %d", d.Port)
	}
}

func TestParseRulesRejects(t *testing.T) {
	cases := []struct{ in, want string }{
		{"-A -t 10.0.0.100:80 -s rr\n-A -t 10.0.0.100:80 -s rr\n", "line 2: service TCP 10.0.0.100:80 is already defined on line 1"},
		{"-a -t 10.0.0.100:80 -r 10.0.0.11:80\n", "line 1: real server for service TCP 10.0.0.100:80, which no earlier -A line defines"},
		{"-A -t 10.0.0.100:80 -s nope\n", "line 1: unknown scheduler \"nope\""},
		{"-E -t 10.0.0.100:80 -s rr\n", "line 1: -E is not accepted in restore input"},
		{"-A -t 10.0.0.100:80 --bogus\n", "line 1: unknown option \"--bogus\""},
		{"-A -t 10.0.0.100 -s rr\n", "line 1: service TCP 10.0.0.100:0 has port 0"},
		{"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -w 70000\n", "line 2: weight (-w) \"70000\""},
		{"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-type gue\n", "line 2: real server 10.0.0.11:80: --tun-type gue needs --tun-port"},
		{"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-csum\n", "line 2: real server 10.0.0.11:80: checksum options (--tun-*csum) are only for gue and gre"},
		{"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-port 6080\n", "line 2: real server 10.0.0.11:80: --tun-port is only for --tun-type gue"},
		{"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -i --tun-type gre --tun-remcsum\n", "line 2: real server 10.0.0.11:80: --tun-remcsum is only for gue"},
		{"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11 -g -y 5\n", "line 2: real server 10.0.0.11:80: lower threshold"},
		{"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r [fd00::1] -g\n", "line 2: real server [fd00::1]:80 and service"},
		{"-A -t 10.0.0.100:80 -s rr -w 3\n", "line 1: real-server options on a -A line"},
		{"-A -t 10.0.0.100:80 -A\n", "line 1: more than one command"},
		{"-A -u 10.0.0.100:53 -s rr\n-A -t 10.0.0.100:80 -o\n", "line 2: one-packet scheduling (-o) is only for UDP"},
		{"-A -t 10.0.0.100:80 -s rr -p 300 -M 256.0.0.0\n", "line 1: netmask (-M) \"256.0.0.0\": want a dotted mask"},
		{"-A -t 10.0.0.100:80 -s rr -p 300 --pe SIP\n", "line 1: persistence engine \"SIP\" (--pe)"},
		{"-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11 --pe sip\n", "line 2: service options (-s -p -M -o -b --pe) on a -a line"},
		{"-A -t www.example.com:http -s rr\n", "line 1: service address \"www.example.com:http\": not an address[:port]: names are not resolved"},
	}
	for _, c := range cases {
		_, err := ParseRules(strings.NewReader(c.in))
		if err == nil {
			t.Errorf("%q: no error, want %q", c.in, c.want)
			continue
		}
		if !errors.Is(err, ErrInput) {
			t.Errorf("%q: error %v does not wrap ErrInput", c.in, err)
		}
		msg := strings.TrimPrefix(err.Error(), ErrInput.Error()+": ")
		if !strings.HasPrefix(msg, c.want) {
			t.Errorf("%q:\n got %q\nwant prefix %q", c.in, msg, c.want)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("%q: error spans lines: %q", c.in, msg)
		}
	}
}
