package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/custos-evidence/custos/agent/auth"
)

// ServerConfig configures the daemon's HTTP API.
type ServerConfig struct {
	// Listen is host:port; port 0 asks for any free port (the daemon
	// prints the one it got).
	Listen   string `mapstructure:"listen"`
	TLSCert  string `mapstructure:"tls_cert"`
	TLSKey   string `mapstructure:"tls_key"`
	ClientCA string `mapstructure:"client_ca"`
	// ClientRoles maps a client certificate's subject common name to its
	// role (intake, custodian, discloser, auditor, admin).
	ClientRoles map[string]string `mapstructure:"client_roles"`
	// InsecureHTTP lets the daemon serve plain HTTP on an address other
	// than loopback (behind a proxy that terminates TLS); without it such
	// a daemon refuses to start, as bearer tokens would cross the network
	// in clear.
	InsecureHTTP bool `mapstructure:"insecure_http"`
	// Workers bounds the jobs (captures, fixity runs) run at once.
	Workers int `mapstructure:"workers"`
	// DrainTimeout is how long running jobs get to finish on SIGTERM;
	// those still running then resume on the next start.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// JobRetention is how long a finished job is kept (0: for ever);
	// DisclosureRetention how long a package built through the API is
	// kept for download (0: for ever; its record stays).
	JobRetention        time.Duration `mapstructure:"job_retention"`
	DisclosureRetention time.Duration `mapstructure:"disclosure_retention"`
}

func (s *ServerConfig) validate() error {
	if err := validListen(s.Listen); err != nil {
		return fmt.Errorf("config: server.listen: %w", err)
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("config: server.tls_cert and server.tls_key: set both or neither")
	}
	if s.ClientCA != "" && s.TLSCert == "" {
		return errors.New("config: server.client_ca: needs server.tls_cert and server.tls_key")
	}
	if len(s.ClientRoles) > 0 && s.ClientCA == "" {
		return errors.New("config: server.client_roles: needs server.client_ca, which verifies the certificates")
	}
	for cn, role := range s.ClientRoles {
		if _, err := auth.ParseRole(role); err != nil {
			return fmt.Errorf("config: server.client_roles.%s: %v", cn, err)
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"drain_timeout", s.DrainTimeout}, {"job_retention", s.JobRetention}, {"disclosure_retention", s.DisclosureRetention}} {
		if d.v < 0 {
			return fmt.Errorf("config: server.%s: %v is negative", d.key, d.v)
		}
	}
	if s.Workers < 1 || s.Workers > 64 {
		return fmt.Errorf("config: server.workers: %d is not between 1 and 64", s.Workers)
	}
	return nil
}

// validListen checks a listen address: host:port, the port a number up to
// 65535 (0: any free port). A port name (":http") is refused: the number
// is what operators and firewalls read.
func validListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535 (or 0 for any free port)", addr, port)
	}
	return nil
}

// loopback reports whether a listen address takes connections from this
// host only: localhost or a loopback IP. An empty host (every interface)
// and any other name are not: what a name resolves to may change.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkPlainHTTP refuses a daemon that would take bearer tokens in clear
// from the network: plain HTTP (no server.tls_cert) on an address other
// than loopback, unless server.insecure_http says a proxy in front
// terminates TLS. It reports whether the daemon serves plain HTTP beyond
// loopback all the same, which the caller logs as a warning.
func (s *ServerConfig) checkPlainHTTP() (insecure bool, err error) {
	if s.TLSCert != "" || loopback(s.Listen) {
		return false, nil
	}
	if !s.InsecureHTTP {
		return false, usageErrorf("serve: server.listen %s is not a loopback address and server.tls_cert is not set: "+
			"bearer tokens would cross the network in clear; set server.tls_cert and server.tls_key, "+
			"listen on 127.0.0.1, or set server.insecure_http: true when a proxy in front terminates TLS", s.Listen)
	}
	return true, nil
}
