package health

// machine is the rise/fall state of one check run: Up after Rise
// consecutive successes, Down after Fall consecutive failures, Draining at
// the first "draining" answer (deliberate, not a symptom, so no fall).
type machine struct {
	state      State
	rise, fall int
	successes  int // consecutive, reset by any other answer
	failures   int // consecutive, reset by any other answer
}

// observe records one result and reports whether the state changed.
func (m *machine) observe(r Result) (from State, changed bool) {
	from = m.state
	switch {
	case r.Draining:
		m.successes, m.failures = 0, 0
		m.state = Draining
	case r.OK:
		m.successes++
		m.failures = 0
		if m.successes >= m.rise {
			m.state = Up
		}
	default:
		m.failures++
		m.successes = 0
		if m.failures >= m.fall {
			m.state = Down
		}
	}
	return from, m.state != from
}
