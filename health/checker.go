package health

var (
	_ Checker = (*tcpChecker)(nil)
	_ Checker = (*httpChecker)(nil)
)

// NewChecker validates d and builds its checker. The error wraps ErrInvalid.
func NewChecker(d Definition) (Checker, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	d = d.WithDefaults()
	if d.Type == TCP {
		return newTCP(d)
	}
	return newHTTP(d)
}
