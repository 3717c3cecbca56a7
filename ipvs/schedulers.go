package ipvs

// AllSchedulers lists the schedulers of Linux 6.1 (ip_vs_<name>.ko):
// the names a scheduler may take. Not only the fake's: the controller
// (-s) and the director (a shared store's key) refuse any other name
// before it reaches the kernel, which refuses it at service creation.
var AllSchedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}
