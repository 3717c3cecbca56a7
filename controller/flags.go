package controller

import (
	"strconv"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// ServiceFlags is what `ipvsadm -Ln` prints after a service's scheduler:
// the -b flags in brackets, then "persistent N" with its mask and
// persistence engine, then "ops"; "" when the service has none of them.
// The status page and `controller top` show it next to the scheduler.
func ServiceFlags(s ipvs.Service) string {
	var parts []string
	if f := schedFlagsText(s); f != "" {
		parts = append(parts, "("+f+")")
	}
	if s.Flags&ipvs.FlagPersistent != 0 {
		parts = append(parts, "persistent "+strconv.FormatUint(uint64(s.Timeout), 10))
		if m := maskText(s); m != "" {
			parts = append(parts, "mask "+m)
		}
		if s.PEName != "" {
			parts = append(parts, "pe "+s.PEName)
		}
	}
	if s.Flags&ipvs.FlagOnePacket != 0 {
		parts = append(parts, "ops")
	}
	return strings.Join(parts, " ")
}
