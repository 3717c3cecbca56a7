package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsnode/lvsnode/internal/rtnl"
)

// The FOU generic netlink family (include/uapi/linux/fou.h). It is spoken
// with mdlayher/genetlink: vishvananda/netlink v1.3.1's FouAdd is refused
// by Linux 6.1 with ERANGE where `ip fou add port N gue` succeeds (seen in
// the lab), so the request is built here as iproute2 builds it: port (big
// endian), family, type, and no protocol for GUE.
const (
	fouCmdAdd  = 1
	fouCmdDel  = 2
	fouCmdGet  = 3
	fouVersion = 1

	fouAttrPort    = 1
	fouAttrAF      = 2
	fouAttrIPProto = 3
	fouAttrType    = 4

	fouEncapDirect = 1
	fouEncapGUE    = 2
)

// fouConn opens a generic netlink socket in the current namespace and
// finds the fou family; ErrUnsupported without the module.
func fouConn() (*genetlink.Conn, uint16, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, 0, fmt.Errorf("open generic netlink: %w", err)
	}
	fam, err := c.GetFamily("fou")
	if err != nil {
		c.Close()
		if errors.Is(err, unix.ENOENT) {
			return nil, 0, fmt.Errorf("generic netlink family fou: %w", ErrUnsupported)
		}
		return nil, 0, fmt.Errorf("generic netlink family fou: %w", err)
	}
	return c, fam.ID, nil
}

func fouAttrs(f Fou, full bool) ([]byte, error) {
	ae := netlink.NewAttributeEncoder()
	port := make([]byte, 2)
	binary.BigEndian.PutUint16(port, uint16(f.Port))
	ae.Bytes(fouAttrPort, port)
	ae.Uint8(fouAttrAF, uint8(rtnl.AF(f.Family)))
	if full {
		if f.GUE {
			ae.Uint8(fouAttrType, fouEncapGUE)
		} else {
			ae.Uint8(fouAttrType, fouEncapDirect)
		}
	}
	return ae.Encode()
}

func fouDo(cmd uint8, f Fou, flags netlink.HeaderFlags) ([]genetlink.Message, error) {
	c, id, err := fouConn()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	data, err := fouAttrs(f, cmd == fouCmdAdd)
	if err != nil {
		return nil, err
	}
	if cmd == fouCmdGet {
		ae := netlink.NewAttributeEncoder()
		ae.Uint8(fouAttrAF, uint8(rtnl.AF(f.Family)))
		if data, err = ae.Encode(); err != nil {
			return nil, err
		}
	}
	return c.Execute(genetlink.Message{Header: genetlink.Header{Command: cmd, Version: fouVersion}, Data: data}, id, flags)
}

func (k *Kernel) FouPorts(family int) ([]Fou, error) {
	msgs, err := fouDo(fouCmdGet, Fou{Family: family}, netlink.Request|netlink.Dump)
	if err != nil {
		if errors.Is(err, ErrUnsupported) {
			return nil, err
		}
		return nil, fmt.Errorf("list fou ports: %w", err)
	}
	var out []Fou
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, err
		}
		f := Fou{Family: family}
		for ad.Next() {
			switch ad.Type() {
			case fouAttrPort:
				if b := ad.Bytes(); len(b) == 2 {
					f.Port = int(binary.BigEndian.Uint16(b))
				}
			case fouAttrType:
				f.GUE = ad.Uint8() == fouEncapGUE
			}
		}
		if err := ad.Err(); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func (k *Kernel) AddFou(f Fou) error {
	if _, err := fouDo(fouCmdAdd, f, netlink.Request|netlink.Acknowledge); err != nil {
		return fouErr("add", f, err)
	}
	return nil
}

func (k *Kernel) DelFou(f Fou) error {
	if _, err := fouDo(fouCmdDel, f, netlink.Request|netlink.Acknowledge); err != nil {
		return fouErr("delete", f, err)
	}
	return nil
}
