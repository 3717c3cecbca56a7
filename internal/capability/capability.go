// Package capability tells whether the process holds the Linux capabilities
// lvsnode needs, so commands can refuse with a clear message before they
// change anything instead of failing half-way with EPERM.
package capability

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// NetAdmin is CAP_NET_ADMIN: addresses, routes, sysctls under net/, IPVS.
const NetAdmin = 12

// statusPath is read for the effective set; tests point it elsewhere.
var statusPath = "/proc/self/status"

// Has reports whether capability bit c is in the effective set.
func Has(c uint) (bool, error) {
	f, err := os.Open(statusPath)
	if err != nil {
		return false, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if hex, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				return false, fmt.Errorf("parse CapEff %q: %w", hex, err)
			}
			return v&(1<<c) != 0, nil
		}
	}
	return false, fmt.Errorf("no CapEff line in %s", statusPath)
}

// RequireNetAdmin returns an error saying what to do when CAP_NET_ADMIN is
// missing; what is the action that needs it ("agent apply").
func RequireNetAdmin(what string) error {
	ok, err := Has(NetAdmin)
	if err != nil {
		return fmt.Errorf("%s: cannot tell whether CAP_NET_ADMIN is held: %w", what, err)
	}
	if !ok {
		return fmt.Errorf("%s needs CAP_NET_ADMIN: run it as root (or give the unit AmbientCapabilities=CAP_NET_ADMIN)", what)
	}
	return nil
}
