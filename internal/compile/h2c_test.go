package compile

import "testing"

// TestPoolH2C: a pool without TLS whose alpn_protocols is exactly ["h2"] compiles to an
// h2c pool (cleartext HTTP/2 by prior knowledge, docs/http2.md); any other list, or none,
// leaves HTTP/1.1, and a re-encrypting pool keeps its list in its TLS part.
func TestPoolH2C(t *testing.T) {
	for _, c := range []struct {
		alpn []string
		tls  bool
		want bool
	}{
		{nil, false, false},
		{[]string{"h2"}, false, true},
		{[]string{"h2", "http/1.1"}, false, false},
		{[]string{"http/1.1"}, false, false},
		{[]string{"h2"}, true, false},
	} {
		g, opts := base(), Options{}
		if c.tls {
			g, opts = tlsGraph()
		}
		g.Pools[0].ALPNProtocols = c.alpn
		cfg, err := LoadBalancer(g, opts)
		if err != nil {
			t.Fatal(err)
		}
		p := cfg.Pools[0]
		if p.H2C != c.want {
			t.Errorf("alpn %v tls %v: h2c %v, want %v", c.alpn, c.tls, p.H2C, c.want)
		}
		if c.tls && (p.TLS == nil || len(p.TLS.ALPNProtocols) != 1 || p.TLS.ALPNProtocols[0] != "h2") {
			t.Errorf("alpn %v tls: pool TLS %+v", c.alpn, p.TLS)
		}
		if c.tls {
			continue // placeholder certificates: Validate reads them
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("alpn %v tls %v: %v", c.alpn, c.tls, err)
		}
	}
}
