package controller

import (
	"github.com/lvsnode/lvsnode/ipvs"
)

// The controller writes to the kernel through one path, the client's batch
// Apply, even for a single change: one encoder carries every field (the
// persistence engine, an IPVS mask that is not a prefix) and every change's
// outcome is reported the same way. Only these helpers know Apply's shape.

// change makes one change.
func (c *Controller) change(ch Change) error {
	_, err := c.IPVS.Apply([]ipvs.Op{opOf(ch)})
	return err
}

// opOf is the client's form of a planned change.
func opOf(ch Change) ipvs.Op {
	return ipvs.Op{Kind: opKinds[ch.Op], Service: ch.Service, Dest: ch.Dest}
}

var opKinds = map[Op]ipvs.OpKind{
	RemoveService: ipvs.OpRemoveService, CreateService: ipvs.OpCreateService, UpdateService: ipvs.OpUpdateService,
	RemoveDest: ipvs.OpRemoveDest, CreateDest: ipvs.OpCreateDest, UpdateDest: ipvs.OpUpdateDest,
}
