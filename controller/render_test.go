package controller

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

func TestListPlain(t *testing.T) {
	tab := mustTable(t, `-A -t 10.0.0.100:80 -s rr -p 300 -M 255.255.255.0
-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 2
-A -u 10.0.0.100:53 -s sh -b sh-port -o
-a -u 10.0.0.100:53 -r 10.0.0.11:5353 -m -w 1
-A -f 5 -6 -s wlc
`)
	tab.Services[0].Dests[1].ActiveConns = 7
	tab.Services[0].Dests[1].InactiveConns = 12
	var b bytes.Buffer
	if err := List(&b, ipvs.Info{Version: [3]int{1, 2, 1}, TableSize: 4096}, tab, ListOptions{}); err != nil {
		t.Fatal(err)
	}
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  10.0.0.100:80 rr persistent 300 mask 255.255.255.0\n" +
		"  -> 10.0.0.11:80                 Route   2      7          12        \n" +
		"  -> 10.0.0.12:80                 Route   1      0          0         \n" +
		"UDP  10.0.0.100:53 sh (sh-port) ops\n" +
		"  -> 10.0.0.11:5353               Masq    1      0          0         \n" +
		"FWM  5 IPv6 wlc\n"
	if b.String() != want {
		t.Errorf("list:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestListStatsRateJSON(t *testing.T) {
	tab := mustTable(t, "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n")
	tab.Services[0].Service.Stats = ipvs.Stats{Conns: 5, InPkts: 123456789, OutBytes: 2000000000, CPS: 1}
	tab.Services[0].Dests[0].Stats = ipvs.Stats{Conns: 5, InBPS: 100}
	var b bytes.Buffer
	List(&b, ipvs.Info{}, tab, ListOptions{Format: ListStats, NoHeader: true})
	want := "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n" +
		"  -> RemoteAddress:Port\n" +
		"TCP  10.0.0.100:80                       5  123456K        0        0    2000M\n" +
		"  -> 10.0.0.11:80                        5        0        0        0        0\n"
	if b.String() != want {
		t.Errorf("stats:\n%q\nwant:\n%q", b.String(), want)
	}
	b.Reset()
	List(&b, ipvs.Info{}, tab, ListOptions{Format: ListRate, NoHeader: true})
	if !strings.Contains(b.String(), "  -> 10.0.0.11:80                        0        0        0      100        0\n") {
		t.Errorf("rate:\n%s", b.String())
	}
	b.Reset()
	if err := ListJSON(&b, ipvs.Info{Version: [3]int{1, 2, 1}}, tab); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services []struct {
			Address     string
			RealServers []struct{ Forward string } `json:"real_servers"`
		}
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil || doc.Services[0].Address != "10.0.0.100" || doc.Services[0].RealServers[0].Forward != "Route" {
		t.Errorf("json %v: %s", err, b.String())
	}
}

func TestListTunInfoAndThresholds(t *testing.T) {
	tab := mustTable(t, `-A -t 10.0.0.100:80 -s rr
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum
-a -t 10.0.0.100:80 -r 10.0.0.12:80 -i -w 1 --tun-type gre --tun-csum
-a -t 10.0.0.100:80 -r 10.0.0.13:80 -g -w 2 -x 9 -y 1
`)
	var b bytes.Buffer
	List(&b, ipvs.Info{}, tab, ListOptions{Format: ListTunInfo, NoHeader: true})
	for _, want := range []string{
		"  -> 10.0.0.11:80                 Tunnel  gue:6080:r+c  1      0          0         \n",
		"  -> 10.0.0.12:80                 Tunnel  gre:+c        1      0          0         \n",
		"  -> 10.0.0.13:80                 Route   n/a           2      0          0         \n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("--tun-info lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	List(&b, ipvs.Info{}, tab, ListOptions{Format: ListThresholds, NoHeader: true})
	if !strings.Contains(b.String(), "  -> 10.0.0.13:80                 9          1          0          0         \n") {
		t.Errorf("--thresholds:\n%s", b.String())
	}
}
