// Package etcdstore owns lvsnode's shared desired state in etcd: how to
// reach etcd (endpoints, TLS, auth), the key layout every director and
// agent agrees on, and an agent's self-registration under a lease. It
// knows the table only as JSON values: the director (director/sharedstore.go)
// decodes them into its desired state, the agent writes its own real
// server. It never touches IPVS or the network.
package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrInvalid is wrapped by every configuration error; the message names
// the key.
var ErrInvalid = errors.New("invalid etcd settings")

// Config is how to reach etcd: the director's `store:` block and the
// agent's `register:` section share these keys.
type Config struct {
	// Endpoints are etcd's client URLs (http:// or https://).
	Endpoints []string `yaml:"endpoints" json:"endpoints"`
	// Prefix is the root of lvsnode's keys; directors of one group and
	// their agents must use the same one (default /lvsnode/).
	Prefix string `yaml:"prefix" json:"prefix"`
	// CA verifies etcd's certificate; Cert and Key are this client's, for
	// etcd's --client-cert-auth. Files, PEM.
	CA   string `yaml:"ca" json:"ca"`
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
	// User and PasswordFile log in to etcd's auth (the password is read
	// from a file so that it is neither in the config nor in ps).
	User         string `yaml:"user" json:"user"`
	PasswordFile string `yaml:"password_file" json:"password_file"`
	// Timeout bounds each request to etcd (default 5s): past it, etcd
	// is reported unreachable.
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// Defaults, and why.
const (
	DefaultPrefix  = "/lvsnode/"     // one tree per group; another group picks another prefix
	DefaultTimeout = 5 * time.Second // longer than a TLS handshake to a loaded etcd, short enough to report it down
)

// Validate fills the defaults and checks c, reading its files (ca, cert,
// key, password_file: present, readable, PEM; the password file not
// readable by group or others); what is the config key prefix for
// messages ("store": store.password_file).
func (c *Config) Validate(what string) error {
	return c.ValidateNamed(func(key string) string { return what + "." + key })
}

// ValidateNamed is Validate with each key named in messages by
// name(key), key as director.yaml writes it ("password_file"): the
// agent's register: section writes it password-file.
func (c *Config) ValidateNamed(name func(key string) string) error {
	if len(c.Endpoints) == 0 {
		return fmt.Errorf("%w: %s: at least one etcd client URL is needed, e.g. http://10.0.0.5:2379", ErrInvalid, name("endpoints"))
	}
	for _, e := range c.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: %s: %q: want http://HOST:PORT or https://HOST:PORT", ErrInvalid, name("endpoints"), e)
		}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("%w: %s: %q must start with /", ErrInvalid, name("prefix"), c.Prefix)
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if (c.Cert == "") != (c.Key == "") {
		return fmt.Errorf("%w: %s and %s go together (a client certificate and its key)", ErrInvalid, name("cert"), name("key"))
	}
	if (c.User == "") != (c.PasswordFile == "") {
		return fmt.Errorf("%w: %s and %s go together", ErrInvalid, name("user"), name("password_file"))
	}
	if c.Timeout < 0 {
		return fmt.Errorf("%w: %s is negative", ErrInvalid, name("timeout"))
	}
	if err := c.checkFiles(name); err != nil {
		return err
	}
	if err := c.checkSchemes(name); err != nil {
		return err
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return nil
}

// checkFiles reads the CA, certificate, key and password files as the
// client will, and refuses a password file that group or others can read.
func (c Config) checkFiles(name func(string) string) error {
	for _, f := range []struct{ key, path string }{{"ca", c.CA}, {"cert", c.Cert}, {"key", c.Key}, {"password_file", c.PasswordFile}} {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err == nil && fi.IsDir() {
			err = errors.New("is a directory")
		}
		if err == nil {
			_, err = os.ReadFile(f.path)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, name(f.key), err)
		}
		if f.key == "password_file" && fi.Mode().Perm()&0o077 != 0 {
			return fmt.Errorf("%w: %s: %s is readable by others (mode %04o): chmod 600 it", ErrInvalid, name(f.key), f.path, fi.Mode().Perm())
		}
	}
	c2 := c
	c2.User, c2.PasswordFile = "", ""
	if _, err := c2.clientConfig(); err != nil { // the PEM contents: "etcd ca FILE: ..." or "etcd cert FILE, key FILE: ..."
		key, rest, _ := strings.Cut(strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": etcd "), " ")
		if key != "ca" && key != "cert" {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		return fmt.Errorf("%w: %s %s", ErrInvalid, name(key), rest)
	}
	return nil
}

// checkSchemes refuses TLS files with an http:// endpoint, and endpoints
// of both schemes: etcd's client dials http:// in clear whatever its TLS
// settings (the CA would be ignored, and the password and the table sent
// unencrypted), and it takes one endpoint's scheme for all of them.
func (c Config) checkSchemes(name func(string) string) error {
	tls := c.CA != "" || c.Cert != ""
	for _, e := range c.Endpoints {
		switch {
		case tls && strings.HasPrefix(e, "http://"):
			return fmt.Errorf("%w: %s: %q is http:// but %s or %s is set: TLS is used only with https:// (over http:// they are ignored and everything, password included, goes in clear)", ErrInvalid, name("endpoints"), e, name("ca"), name("cert"))
		case strings.HasPrefix(e, "http://") != strings.HasPrefix(c.Endpoints[0], "http://"):
			return fmt.Errorf("%w: %s: %q and %q: use one scheme, http:// or https://, for every endpoint", ErrInvalid, name("endpoints"), c.Endpoints[0], e)
		}
	}
	return nil
}

// clientConfig builds the etcd client's settings, reading the TLS files
// and the password file.
func (c Config) clientConfig() (clientv3.Config, error) {
	// no DialTimeout: with one, New blocks until etcd answers, and a
	// director must start (on its cached table) while etcd is down
	cc := clientv3.Config{Endpoints: c.Endpoints,
		DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
		Logger: zap.NewNop()}
	if c.CA != "" || c.Cert != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CA != "" {
			pem, err := os.ReadFile(c.CA)
			if err != nil {
				return cc, fmt.Errorf("etcd ca: %w", err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return cc, fmt.Errorf("%w: etcd ca %s: no PEM certificate in it", ErrInvalid, c.CA)
			}
		}
		if c.Cert != "" {
			kp, err := tls.LoadX509KeyPair(c.Cert, c.Key)
			if err != nil {
				return cc, fmt.Errorf("%w: etcd cert %s, key %s: %v", ErrInvalid, c.Cert, c.Key, err)
			}
			t.Certificates = []tls.Certificate{kp}
		}
		cc.TLS = t
	}
	if c.User != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return cc, fmt.Errorf("etcd password file: %w", err)
		}
		cc.Username, cc.Password = c.User, strings.TrimRight(string(b), "\r\n")
		// New authenticates before it returns, bounded only by
		// DialTimeout (without grpc.WithBlock the dial itself does not
		// wait): with etcd down it would block forever
		cc.DialTimeout = c.Timeout
	}
	return cc, nil
}

// Dial returns a client of c's etcd. Without user it does not wait for
// etcd: a client of an etcd that is down is returned, and its calls fail
// until it is up. With user it authenticates first, within c.Timeout: an
// etcd that is down is an error (ErrInvalid only for bad settings), and
// the caller retries (Anonymous gives a client to use meanwhile).
func Dial(c Config) (*clientv3.Client, error) {
	cc, err := c.clientConfig()
	if err != nil {
		return nil, err
	}
	cl, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(c.Endpoints, ","), err)
	}
	return cl, nil
}

// Anonymous is c without user and password: a client that needs no
// round trip to be built, for a caller that must not wait for etcd.
func (c Config) Anonymous() Config {
	c.User, c.PasswordFile = "", ""
	return c
}
