// Package tunnel will own the tunnel devices of LVS-TUN real servers: the
// ipip fallback device tunl0 (or a FOU/GUE receive port, or gre0) brought
// up, the VIP reachable through it, and reverse-path filtering relaxed on
// all and the device (the kernel uses the larger value, so the device alone
// is not enough). It is empty until the TUN mode issue: the agent accepts
// only --mode dr today and says so.
package tunnel
