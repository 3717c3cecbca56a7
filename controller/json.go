package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// JSON shapes for list --json.
type jsonTable struct {
	Version  string        `json:"version"`
	Size     uint32        `json:"size"`
	Services []jsonService `json:"services"`
}

type jsonService struct {
	Protocol    string     `json:"protocol,omitempty"`
	Address     string     `json:"address,omitempty"`
	Port        uint16     `json:"port"`
	FWMark      uint32     `json:"fwmark,omitempty"`
	Family      string     `json:"family"`
	Scheduler   string     `json:"scheduler"`
	SchedFlags  string     `json:"sched_flags,omitempty"`
	Persistent  bool       `json:"persistent"`
	Timeout     uint32     `json:"timeout,omitempty"`
	Netmask     int        `json:"netmask_bits"`
	Mask        string     `json:"netmask,omitempty"`
	PEName      string     `json:"persistence_engine,omitempty"`
	OnePacket   bool       `json:"one_packet"`
	Stats       ipvs.Stats `json:"stats"`
	RealServers []jsonDest `json:"real_servers"`
}

type jsonDest struct {
	Address         string     `json:"address"`
	Port            uint16     `json:"port"`
	Forward         string     `json:"forward"`
	Weight          uint32     `json:"weight"`
	UpperThreshold  uint32     `json:"u_threshold"`
	LowerThreshold  uint32     `json:"l_threshold"`
	TunnelType      string     `json:"tunnel_type,omitempty"`
	TunnelPort      uint16     `json:"tunnel_port,omitempty"`
	TunnelChecksum  string     `json:"tunnel_checksum,omitempty"`
	ActiveConns     uint32     `json:"active_conns"`
	InactiveConns   uint32     `json:"inactive_conns"`
	PersistentConns uint32     `json:"persistent_conns"`
	Stats           ipvs.Stats `json:"stats"`
}

// ListJSON writes t as one JSON document (list --json), sorted as List.
func ListJSON(w io.Writer, info ipvs.Info, t Table) error {
	out := jsonTable{
		Version:  fmt.Sprintf("%d.%d.%d", info.Version[0], info.Version[1], info.Version[2]),
		Size:     info.TableSize,
		Services: []jsonService{},
	}
	for _, e := range sorted(t).Services {
		s := e.Service
		js := jsonService{
			Port: s.Port, FWMark: s.FWMark, Family: "ipv4", Scheduler: s.Scheduler,
			SchedFlags: schedFlagsText(s), Persistent: s.Flags&ipvs.FlagPersistent != 0,
			Timeout: s.Timeout, Netmask: normMask(s), Mask: maskText(s), PEName: s.PEName, OnePacket: s.Flags&ipvs.FlagOnePacket != 0,
			Stats: s.Stats, RealServers: []jsonDest{},
		}
		if s.Is6() {
			js.Family = "ipv6"
		}
		if s.FWMark == 0 {
			js.Protocol, js.Address = s.Protocol.String(), s.Addr.String()
		}
		for _, d := range e.Dests {
			jd := jsonDest{
				Address: d.Addr.String(), Port: d.Port, Forward: d.Forward.String(), Weight: d.Weight,
				UpperThreshold: d.UpperThreshold, LowerThreshold: d.LowerThreshold,
				ActiveConns: d.ActiveConns, InactiveConns: d.InactiveConns, PersistentConns: d.PersistentConns,
				Stats: d.Stats,
			}
			if d.Forward == ipvs.Tunnel {
				jd.TunnelType = d.TunnelType.String()
				if d.TunnelType == ipvs.GUE {
					jd.TunnelPort = d.TunnelPort
				}
				if d.TunnelType != ipvs.IPIP {
					jd.TunnelChecksum = strings.TrimPrefix(tunFlagOpt[d.TunnelFlags], "--tun-")
				}
			}
			js.RealServers = append(js.RealServers, jd)
		}
		out.Services = append(out.Services, js)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
