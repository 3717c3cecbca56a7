//go:build linux

package ipvs

import (
	"errors"
	"fmt"
	"net"
)

// The kernel client's sync-daemon commands: one request each, as libipvs
// sends them (testdata/start-daemon.hex, stop-daemon.hex, get-daemon.hex).

func (n *netlinkClient) Daemons() ([]Daemon, error) {
	out := []Daemon{}
	err := n.dump(n.dumpRequest(cmdGetDaemon), func(b []byte) error {
		d, err := decodeDaemon(b)
		out = append(out, d)
		return err
	})
	if err != nil {
		return nil, mapDaemonErr("list sync daemons", err)
	}
	return out, nil
}

func (n *netlinkClient) StartDaemon(d Daemon) error {
	return mapDaemonErr(startWhat(d), n.do(cmdNewDaemon, encodeDaemon(d), nil))
}

func (n *netlinkClient) StopDaemon(state uint32) error {
	return mapDaemonErr("stop "+RoleName(state)+" sync daemon", n.do(cmdDelDaemon, encodeDaemon(Daemon{State: state}), nil))
}

func (n *netlinkClient) SyncLink(name string) (Link, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil && oe.Err.Error() == "no such network interface" {
			return Link{}, fmt.Errorf("interface %s: %w", name, ErrNoInterface)
		}
		return Link{}, fmt.Errorf("interface %s: %w", name, err)
	}
	return Link{Index: ifc.Index, Up: ifc.Flags&net.FlagUp != 0, MTU: ifc.MTU}, nil
}
