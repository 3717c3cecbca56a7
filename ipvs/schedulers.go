package ipvs

// AllSchedulers lists every IPVS scheduler Linux has (ip_vs_<name>.ko):
// the names a scheduler may take. The controller (-s) and the director
// (director.yaml, a shared store's key) refuse any other name before it
// reaches the kernel, which refuses an unknown one at service creation.
// A kernel may lack one of these (twos came in Linux 6.2; a module may
// not be built): the kernel's refusal then says so.
var AllSchedulers = append(append([]string(nil), Linux61Schedulers...), "twos")

// Linux61Schedulers are the schedulers of Linux 6.1 (Debian 12, the lab's
// kernel): what the fake's kernel has.
var Linux61Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}
