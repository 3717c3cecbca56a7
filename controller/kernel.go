package controller

import (
	"github.com/lvsnode/lvsnode/ipvs"
)

// The single-change commands write to the kernel through one helper over
// the client's Apply (ipvs.Do): one encoder carries every field (the
// persistence engine, an IPv4 mask that is not a prefix) and each change's
// outcome is reported the same way.

// change makes one change and returns its outcome.
func (c *Controller) change(ch Change) error {
	return ipvs.Do(c.IPVS, ch.op())
}

// setDest changes the settings of an existing real server of k.
func (c *Controller) setDest(k ipvs.ServiceKey, d ipvs.Destination) error {
	return ipvs.Do(c.IPVS, ipvs.UpdateDestOp(k, d))
}

// removeDest deletes real server d of k.
func (c *Controller) removeDest(k ipvs.ServiceKey, d ipvs.DestKey) error {
	return ipvs.Do(c.IPVS, ipvs.RemoveDestOp(k, d))
}
