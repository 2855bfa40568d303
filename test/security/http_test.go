package security

// Client ↔ member: the native engine's HTTP/1.1 path. A client of a load balancer
// must not reach past the engine: forge the headers the engine vouches for, smuggle
// a request the engine never saw, or pass an L7 rule with another spelling of the
// host or path it names. Each test drives the real binary (API → controller →
// agent → engine) and sends raw bytes to the VIP; the member behind it is a strict
// HTTP/1.1 server of this file that frames requests by CRLF itself and logs every
// request it framed.

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// httpLogged is one request the strict member framed.
type httpLogged struct {
	method, target string
	fields         [][2]string // name as sent, value without surrounding whitespace
	body           []byte
}

// values returns the values of every field whose name spells name, ignoring case and
// reading '_' as '-' (as a CGI-style application would see them).
func (r httpLogged) values(name string) []string {
	var out []string
	for _, f := range r.fields {
		if httpFold(f[0]) == httpFold(name) {
			out = append(out, f[1])
		}
	}
	return out
}

func httpFold(name string) string { return strings.ReplaceAll(strings.ToLower(name), "_", "-") }

// httpMember is a member that frames requests itself, strictly: CRLF line ends only, no
// obs-fold, one Content-Length value or "Transfer-Encoding: chunked" alone, chunk lines
// ended by CRLF. Each request it frames is logged and answered with 200 and the request's
// head as body; bytes it cannot frame are logged as malformed and end the connection.
type httpMember struct {
	port int
	ln   net.Listener
	mu   sync.Mutex
	reqs []httpLogged
	bad  []string
}

func httpStartMember(t *testing.T) *httpMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &httpMember{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				m.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return m
}

// httpMark is a point in a member's log.
type httpMark struct{ reqs, bad int }

// mark returns the current end of the member's log.
func (m *httpMember) mark() httpMark {
	m.mu.Lock()
	defer m.mu.Unlock()
	return httpMark{len(m.reqs), len(m.bad)}
}

// since returns the requests the member framed after mark, and fails the test if it
// received bytes it could not frame since then.
func (m *httpMember) since(t *testing.T, from httpMark) []httpLogged {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if bad := m.bad[from.bad:]; len(bad) > 0 {
		t.Fatalf("the member received bytes it cannot frame: %q", bad)
	}
	return append([]httpLogged(nil), m.reqs[from.reqs:]...)
}

var (
	errHTTPIncomplete = errors.New("incomplete")
	errHTTPMalformed  = errors.New("malformed")
)

func (m *httpMember) serve(c net.Conn) {
	defer c.Close()
	var buf []byte
	tmp := make([]byte, 16<<10)
	for {
		c.SetDeadline(time.Now().Add(30 * time.Second))
		req, n, err := httpFrame(buf)
		switch {
		case errors.Is(err, errHTTPIncomplete):
			k, rerr := c.Read(tmp)
			buf = append(buf, tmp[:k]...)
			if rerr != nil && k == 0 {
				return
			}
			continue
		case err != nil:
			m.mu.Lock()
			m.bad = append(m.bad, string(buf))
			m.mu.Unlock()
			return
		}
		buf = buf[n:]
		m.mu.Lock()
		m.reqs = append(m.reqs, req)
		m.mu.Unlock()
		head := fmt.Sprintf("%s %s\n", req.method, req.target)
		for _, f := range req.fields {
			head += f[0] + ": " + f[1] + "\n"
		}
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nX-Member: strict\r\n\r\n%s", len(head), head); err != nil {
			return
		}
		for _, v := range req.values("Connection") {
			if strings.EqualFold(v, "close") {
				return
			}
		}
	}
}

// httpLine returns the CRLF-ended line at the start of p and its length with the CRLF.
func httpLine(p []byte) (string, int, error) {
	i := bytes.Index(p, []byte("\r\n"))
	if i < 0 {
		if bytes.IndexByte(p, '\n') >= 0 || bytes.IndexByte(bytes.TrimSuffix(p, []byte("\r")), '\r') >= 0 {
			return "", 0, errHTTPMalformed
		}
		return "", 0, errHTTPIncomplete
	}
	if bytes.ContainsAny(p[:i], "\r\n") {
		return "", 0, errHTTPMalformed
	}
	return string(p[:i]), i + 2, nil
}

func httpToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return s != ""
}

// httpFrame frames one request at the start of p.
func httpFrame(p []byte) (httpLogged, int, error) {
	var r httpLogged
	line, pos, err := httpLine(p)
	if err != nil {
		return r, 0, err
	}
	parts := strings.Split(line, " ")
	if len(parts) != 3 || !httpToken(parts[0]) || !strings.HasPrefix(parts[2], "HTTP/1.") {
		return r, 0, errHTTPMalformed
	}
	r.method, r.target = parts[0], parts[1]
	var te, cl []string
	for {
		line, n, err := httpLine(p[pos:])
		if err != nil {
			return r, 0, err
		}
		pos += n
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !httpToken(name) || strings.ContainsAny(value, "\x00") {
			return r, 0, errHTTPMalformed
		}
		value = strings.Trim(value, " \t")
		r.fields = append(r.fields, [2]string{name, value})
		switch strings.ToLower(name) {
		case "transfer-encoding":
			te = append(te, value)
		case "content-length":
			cl = append(cl, value)
		}
	}
	switch {
	case len(te) > 0:
		if len(te) != 1 || !strings.EqualFold(te[0], "chunked") || len(cl) > 0 {
			return r, 0, errHTTPMalformed
		}
		for {
			line, n, err := httpLine(p[pos:])
			if err != nil {
				return r, 0, err
			}
			pos += n
			size, err := strconv.ParseInt(line, 16, 64)
			if err != nil || size < 0 {
				return r, 0, errHTTPMalformed // the engine's chunks carry no extension
			}
			if size == 0 {
				break
			}
			if int64(len(p)-pos) < size+2 {
				return r, 0, errHTTPIncomplete
			}
			r.body = append(r.body, p[pos:pos+int(size)]...)
			pos += int(size)
			if string(p[pos:pos+2]) != "\r\n" {
				return r, 0, errHTTPMalformed
			}
			pos += 2
		}
		for {
			line, n, err := httpLine(p[pos:])
			if err != nil {
				return r, 0, err
			}
			pos += n
			if line == "" {
				break
			}
		}
	case len(cl) > 0:
		if len(cl) != 1 {
			return r, 0, errHTTPMalformed
		}
		size, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || size < 0 {
			return r, 0, errHTTPMalformed
		}
		if int64(len(p)-pos) < size {
			return r, 0, errHTTPIncomplete
		}
		r.body = append(r.body, p[pos:pos+int(size)]...)
		pos += int(size)
	}
	return r, pos, nil
}

// httpDeploy creates a load balancer in s's project with one listener (fields of
// listener added to loadbalancer_id, protocol_port and the defaults), a ROUND_ROBIN HTTP
// pool holding member, and the L7 policies given (each with a "rules" list), waiting
// for ACTIVE after every step. It returns the listener's VIP address once it carries
// traffic.
func httpDeploy(t *testing.T, s *session, member *httpMember, listener map[string]any, policies ...map[string]any) string {
	t.Helper()
	r := s.call(t, "GET", "/networking/v2.0/subnets?name=private-subnet", nil)
	list, _ := r.body["subnets"].([]any)
	if len(list) != 1 {
		t.Fatalf("private-subnet: %d %s", r.code, r.raw)
	}
	subnet := str(list[0].(map[string]any), "id")
	lbr := s.must(t, "POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": map[string]any{"name": "http-sec", "vip_subnet_id": subnet}}, 201)
	lb, vip := str(lbr.body, "loadbalancer", "id"), str(lbr.body, "loadbalancer", "vip_address")
	s.waitLB(t, lb, "ACTIVE", 60*time.Second)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	body := map[string]any{"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": port}
	for k, v := range listener {
		body[k] = v
	}
	lr := s.must(t, "POST", "/v2/lbaas/listeners", map[string]any{"listener": body}, 201)
	listenerID := str(lr.body, "listener", "id")
	s.waitLB(t, lb, "ACTIVE", 60*time.Second)
	pr := s.must(t, "POST", "/v2/lbaas/pools", map[string]any{"pool": map[string]any{"listener_id": listenerID, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}, 201)
	pool := str(pr.body, "pool", "id")
	s.waitLB(t, lb, "ACTIVE", 60*time.Second)
	s.must(t, "POST", "/v2/lbaas/pools/"+pool+"/members", map[string]any{"member": map[string]any{"address": "127.0.0.1", "protocol_port": member.port}}, 201)
	s.waitLB(t, lb, "ACTIVE", 60*time.Second)
	for i, p := range policies {
		rules, _ := p["rules"].([]map[string]any)
		pb := map[string]any{"listener_id": listenerID, "position": i + 1}
		for k, v := range p {
			if k != "rules" {
				pb[k] = v
			}
		}
		ppr := s.must(t, "POST", "/v2/lbaas/l7policies", map[string]any{"l7policy": pb}, 201)
		id := str(ppr.body, "l7policy", "id")
		s.waitLB(t, lb, "ACTIVE", 60*time.Second)
		for _, rule := range rules {
			s.must(t, "POST", "/v2/lbaas/l7policies/"+id+"/rules", map[string]any{"rule": rule}, 201)
			s.waitLB(t, lb, "ACTIVE", 60*time.Second)
		}
	}
	addr := net.JoinHostPort(vip, strconv.Itoa(port))
	tlsOn := listener["protocol"] == "TERMINATED_HTTPS"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if httpReady(addr, tlsOn) {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener %s on %s carries no traffic after 30s", listenerID, addr)
		}
	}
}

// httpReady reports whether a request to the listener at addr reaches the member.
func httpReady(addr string, tlsOn bool) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	if tlsOn {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		c = tc
	}
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "GET /__ready HTTP/1.1\r\nHost: ready.example\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200 && resp.Header.Get("X-Member") == "strict"
}

// httpResult is one response a client read.
type httpResult struct {
	status int
	member bool // answered by the member (not by the engine itself)
	body   string
}

// httpSend writes raw on a new connection to addr (over TLS with cfg when not nil), ends
// the client's side, and reads every response until the engine closes.
func httpSend(t *testing.T, addr string, cfg *tls.Config, raw string) []httpResult {
	t.Helper()
	tcp, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn = tcp
	var closeWrite func() error = tcp.(*net.TCPConn).CloseWrite
	if cfg != nil {
		tc := tls.Client(tcp, cfg)
		c, closeWrite = tc, tc.CloseWrite
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write %q: %v", raw, err)
	}
	closeWrite()
	all, _ := io.ReadAll(c)
	var out []httpResult
	br := bufio.NewReader(bytes.NewReader(all))
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, httpResult{status: resp.StatusCode, member: resp.Header.Get("X-Member") == "strict", body: string(b)})
	}
	return out
}

func httpStatuses(rs []httpResult) string {
	var s []string
	for _, r := range rs {
		s = append(s, strconv.Itoa(r.status))
	}
	return strings.Join(s, ",")
}

// httpPKI issues the certificates of the TLS tests.
type httpPKI struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	caPEM string
}

func httpNewPKI(t *testing.T) *httpPKI {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "http-sec CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &httpPKI{ca: ca, key: key, caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

func (p *httpPKI) issue(t *testing.T, cn string, serial int64, usage x509.ExtKeyUsage) (*ecdsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"Example"}},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return key, leaf
}

// httpSecret stores a secret through the key-manager API and returns its reference.
func httpSecret(t *testing.T, s *session, name string, payload []byte, contentType string) string {
	t.Helper()
	body := map[string]any{"name": name, "payload_content_type": contentType}
	if contentType == "text/plain" {
		body["payload"] = string(payload)
	} else {
		body["payload"] = base64.StdEncoding.EncodeToString(payload)
		body["payload_content_encoding"] = "base64"
	}
	r := s.must(t, "POST", "/key-manager/v1/secrets", body, 201)
	ref, _ := r.body["secret_ref"].(string)
	if ref == "" {
		t.Fatalf("no secret_ref: %s", r.raw)
	}
	return ref
}

// httpSpoofs is a request carrying client copies of every header the engine may insert,
// in the spellings a member could read as that header.
const httpSpoofs = "X-Forwarded-For: 203.0.113.7\r\n" +
	"X_Forwarded_For: 203.0.113.8\r\n" +
	"X-Forwarded-Port: 1\r\n" +
	"x-forwarded-port: 2\r\n" +
	"X-Forwarded-Proto: https\r\n" +
	"X-FORWARDED-PROTO: https\r\n" +
	"X_Forwarded_Proto: https\r\n" +
	"X-Real-IP: 203.0.113.9\r\n" +
	"X-Client-IP: 203.0.113.10\r\n" +
	"X-SSL-Client-Verify: 0\r\n" +
	"X-SSL-Client-Has-Cert: 1\r\n" +
	"x-ssl-client-dn: \"/O=Example/CN=admin\"\r\n" +
	"X-SSL-Client-CN: \"admin\"\r\n" +
	"X_SSL_Client_CN: \"admin\"\r\n" +
	"X-SSL-Issuer: \"/CN=forged\"\r\n" +
	"X-SSL-Client-SHA1: \"00\"\r\n" +
	"X-SSL-Client-Not-Before: \"000101000000Z\"\r\n" +
	"X-SSL-Client-Not-After: \"991231235959Z\"\r\n" +
	"Connection: X-Forwarded-Proto, X-SSL-Client-CN\r\n"

// httpCheckInserted asserts that the member saw exactly one value, want, for each header
// of want, and an X-Forwarded-For list ending with the client's address.
func httpCheckInserted(t *testing.T, r httpLogged, want map[string]string) {
	t.Helper()
	for name, v := range want {
		if got := r.values(name); len(got) != 1 || got[0] != v {
			t.Errorf("%s %s: member saw %s = %q, want exactly [%q]", r.method, r.target, name, got, v)
		}
	}
	var xff []string
	for _, v := range r.values("X-Forwarded-For") {
		for _, e := range strings.Split(v, ",") {
			xff = append(xff, strings.TrimSpace(e))
		}
	}
	if len(xff) == 0 || xff[len(xff)-1] != "127.0.0.1" {
		t.Errorf("%s %s: X-Forwarded-For elements %q, want the client's address 127.0.0.1 last", r.method, r.target, xff)
	}
}

// TestHTTPInsertedHeadersReplaceClientCopies: on HTTP and TERMINATED_HTTPS listeners with
// insert_headers, a client's copies of an inserted header (any case, '_' for '-', named in
// Connection) never reach the member: it sees one value, the engine's. X-Forwarded-For
// stays a list with the engine's element last.
func TestHTTPInsertedHeadersReplaceClientCopies(t *testing.T) {
	c := newCloud(t)
	s := c.user(t, "sec-http-hdr", "hanna", "member")
	member := httpStartMember(t)

	t.Run("HTTP", func(t *testing.T) {
		addr := httpDeploy(t, s, member, map[string]any{"insert_headers": map[string]string{
			"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true", "X-Real-IP": "true", "X-Client-IP": "true"}})
		_, port, _ := net.SplitHostPort(addr)
		before := member.mark()
		rs := httpSend(t, addr, nil, "GET /spoof HTTP/1.1\r\nHost: app.example\r\n"+httpSpoofs+"\r\n")
		if httpStatuses(rs) != "200" {
			t.Fatalf("spoofing request: statuses %s", httpStatuses(rs))
		}
		got := member.since(t, before)
		if len(got) != 1 {
			t.Fatalf("member framed %d requests, want 1", len(got))
		}
		// The member's echo of what it received, as the client reads it.
		if !contains([]byte(rs[0].body), "X-Forwarded-Proto: http\n", "X-Forwarded-Port: "+port+"\n") || strings.Contains(rs[0].body, "https") {
			t.Errorf("the member echoed %q", rs[0].body)
		}
		httpCheckInserted(t, got[0], map[string]string{"X-Forwarded-Port": port, "X-Forwarded-Proto": "http",
			"X-Real-IP": "127.0.0.1", "X-Client-IP": "127.0.0.1"})
		// Headers the listener does not insert pass as the client sent them.
		if v := got[0].values("X-SSL-Client-Has-Cert"); len(v) != 1 || v[0] != "1" {
			t.Errorf("X-SSL-Client-Has-Cert is not inserted on HTTP and should pass untouched: %q", v)
		}
	})

	t.Run("TERMINATED_HTTPS", func(t *testing.T) {
		pki := httpNewPKI(t)
		skey, sleaf := pki.issue(t, "www.example.test", 10, x509.ExtKeyUsageServerAuth)
		p12, err := pkcs12.Modern.Encode(skey, sleaf, []*x509.Certificate{pki.ca}, "")
		if err != nil {
			t.Fatal(err)
		}
		certRef := httpSecret(t, s, "server", p12, "application/octet-stream")
		caRef := httpSecret(t, s, "client-ca", []byte(pki.caPEM), "text/plain")
		headers := map[string]string{"X-Forwarded-For": "true", "X-Forwarded-Port": "true", "X-Forwarded-Proto": "true"}
		for _, h := range []string{"X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
			"X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After"} {
			headers[h] = "true"
		}
		addr := httpDeploy(t, s, member, map[string]any{"protocol": "TERMINATED_HTTPS", "default_tls_container_ref": certRef,
			"client_ca_tls_container_ref": caRef, "client_authentication": "OPTIONAL", "insert_headers": headers})
		_, port, _ := net.SplitHostPort(addr)
		roots := x509.NewCertPool()
		roots.AddCert(pki.ca)
		ckey, cleaf := pki.issue(t, "alice", 20, x509.ExtKeyUsageClientAuth)
		clientCert := tls.Certificate{Certificate: [][]byte{cleaf.Raw}, PrivateKey: ckey, Leaf: cleaf}

		for _, tc := range []struct {
			name string
			cert []tls.Certificate
			want map[string]string
		}{
			{"without a client certificate", nil, map[string]string{"X-SSL-Client-Has-Cert": "0", "X-SSL-Client-CN": `""`,
				"X-SSL-Client-DN": `""`, "X-SSL-Issuer": `""`, "X-SSL-Client-SHA1": `""`, "X-SSL-Client-Verify": "0",
				"X-SSL-Client-Not-Before": `""`, "X-SSL-Client-Not-After": `""`}},
			{"with a client certificate", []tls.Certificate{clientCert}, map[string]string{"X-SSL-Client-Has-Cert": "1",
				"X-SSL-Client-CN": `"alice"`, "X-SSL-Client-DN": `"/O=Example/CN=alice"`, "X-SSL-Issuer": `"/CN=http-sec CA"`,
				"X-SSL-Client-Verify": "0", "X-SSL-Client-Not-After": `"` + cleaf.NotAfter.UTC().Format("060102150405Z") + `"`}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := &tls.Config{RootCAs: roots, ServerName: "www.example.test", Certificates: tc.cert}
				before := member.mark()
				rs := httpSend(t, addr, cfg, "GET /spoof HTTP/1.1\r\nHost: www.example.test\r\n"+httpSpoofs+"\r\n")
				if httpStatuses(rs) != "200" {
					t.Fatalf("spoofing request: statuses %s", httpStatuses(rs))
				}
				got := member.since(t, before)
				if len(got) != 1 {
					t.Fatalf("member framed %d requests, want 1", len(got))
				}
				want := map[string]string{"X-Forwarded-Port": port, "X-Forwarded-Proto": "https"}
				for k, v := range tc.want {
					want[k] = v
				}
				httpCheckInserted(t, got[0], want)
				if v := got[0].values("X-SSL-Client-SHA1"); tc.cert != nil && (len(v) != 1 || len(v[0]) != 42) {
					t.Errorf("X-SSL-Client-SHA1 = %q, want the certificate's fingerprint", v)
				}
			})
		}
	})
}

// httpCorpusCase is one attempt to make the member frame a request the engine did not
// answer. want lists the statuses the client must read, in order.
type httpCorpusCase struct {
	name, raw, want string
}

// httpSmuggled is the request the corpus hides in another request's body or framing.
const httpSmuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"

// httpSmuggledLen is its length, as a Content-Length value.
var httpSmuggledLen = strconv.Itoa(len(httpSmuggled))

var httpCorpus = []httpCorpusCase{
	{"pipelined, control", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: a\r\n\r\n", "200,200"},
	{"chunked, control", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=x\r\nabc\r\n0\r\nTrailer: t\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", "200,200"},
	{"CL+TE", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"TE+CL", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", "400"},
	{"two Content-Length values", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: " + httpSmuggledLen + "\r\n\r\n" + httpSmuggled, "400"},
	{"Content-Length list", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0, " + httpSmuggledLen + "\r\n\r\n" + httpSmuggled, "400"},
	{"Content-Length sign", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabcGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"Content-Length space before colon", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length : " + httpSmuggledLen + "\r\n\r\n" + httpSmuggled, "400"},
	{"same Content-Length twice", "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: a\r\n\r\n", "200,200"},
	{"TE chunked, identity", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"TE xchunked", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "400"},
	{"TE twice", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
	{"TE on HTTP/1.0", "POST /a HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
	{"TE upper case and whitespace", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tCHUNKED \r\n\r\n3\r\nabc\r\n0\r\n\r\n", "200"},
	{"TE space before colon", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "400"},
	{"TE obs-fold", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", "400"},
	{"obs-fold", "GET /a HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", "400"},
	{"bare LF ends a field", "POST /a HTTP/1.1\r\nHost: a\r\nX-A: b\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
	{"bare LF ends the request line", "GET /a HTTP/1.1\nHost: a\r\n\r\n", "400"},
	{"bare LF head", "GET /a HTTP/1.1\nHost: a\n\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"bare CR in a field", "POST /a HTTP/1.1\r\nHost: a\r\nX-A: b\rTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
	{"bare CR in the request line", "GET /a\r HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"NUL in a field", "GET /a HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n", "400"},
	{"NUL in the target", "GET /a\x00 HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"bare LF after the chunk size", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"bare LF after a chunk extension", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\nabc\r\n0\r\n\r\n", "400"},
	{"bare LF after chunk data", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", "400"},
	{"bare LF after the last chunk", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"bare LF ends the trailers", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"bare LF in a trailer", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n\r\n", "400"},
	{"bare CR after the chunk size", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n", "400"},
	{"oversize chunk size", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff1\r\nx\r\n0\r\n\r\n", "400"},
	{"overflowing chunk size", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n", "400"},
	{"chunk size with junk", "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n", "400"},
	{"Connection names the framing", "POST /a HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: " + httpSmuggledLen + "\r\n\r\n" + httpSmuggled, "200"},
	{"Connection names Host", "GET /a HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n", "200"},
	{"h2c upgrade", "GET /a HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", "200,200"},
	{"absolute-form", "GET http://a.example/b HTTP/1.1\r\nHost: other.example\r\n\r\n", "200"},
	{"error after pipelined requests", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n", "200,400"},
}

// TestHTTPRequestSmugglingCorpus sends each way of disagreeing on where a request ends to
// a strict member through the engine: the member frames exactly the requests the client
// got the member's answer to, none more, nothing it cannot frame, never /smuggled.
func TestHTTPRequestSmugglingCorpus(t *testing.T) {
	c := newCloud(t)
	s := c.user(t, "sec-http-smuggle", "sam", "member")
	member := httpStartMember(t)
	addr := httpDeploy(t, s, member, nil)
	for _, tc := range httpCorpus {
		t.Run(tc.name, func(t *testing.T) {
			before := member.mark()
			rs := httpSend(t, addr, nil, tc.raw)
			got := member.since(t, before)
			answered := 0
			for _, r := range rs {
				if r.member {
					answered++
				}
			}
			if len(got) != answered {
				t.Errorf("the member framed %d requests, the client got %d member answers", len(got), answered)
			}
			for _, r := range got {
				if strings.Contains(r.target, "smuggled") || strings.Contains(string(r.body), "SMUGGLED") {
					t.Errorf("the member framed a smuggled request: %s %s %q", r.method, r.target, r.body)
				}
			}
			if httpStatuses(rs) != tc.want {
				t.Errorf("statuses %q, want %q (member framed %d)", httpStatuses(rs), tc.want, len(got))
			}
		})
	}
	if !t.Failed() {
		// The member's chunked bodies are the engine's own: sizes without extensions, no trailer.
		before := member.mark()
		rs := httpSend(t, addr, nil, "POST /re HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n003;a=\"b\"\r\nabc\r\n2\r\nde\r\n0\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n")
		got := member.since(t, before)
		if httpStatuses(rs) != "200" || len(got) != 1 || string(got[0].body) != "abcde" {
			t.Fatalf("re-framed chunked body: statuses %s, member %+v", httpStatuses(rs), got)
		}
	}
}

// TestHTTPHostRuleAbsoluteForm: a REJECT policy on HOST_NAME cannot be passed with an
// absolute-form target naming the host while Host names another: the authority is the
// request's one host, for the rule and for the member. HTTP/1.1 without Host, or with
// two, is 400.
func TestHTTPHostRuleAbsoluteForm(t *testing.T) {
	c := newCloud(t)
	s := c.user(t, "sec-http-host", "hugo", "member")
	member := httpStartMember(t)
	addr := httpDeploy(t, s, member, nil, map[string]any{"action": "REJECT",
		"rules": []map[string]any{{"type": "HOST_NAME", "compare_type": "EQUAL_TO", "value": "admin.example.com"}}})
	for _, tc := range []struct{ name, raw, want, host, target string }{
		{"absolute-form names the host", "GET http://admin.example.com/x HTTP/1.1\r\nHost: other.example\r\n\r\n", "403", "", ""},
		{"absolute-form, upper case and port", "GET HTTP://ADMIN.EXAMPLE.COM:80/x HTTP/1.1\r\nHost: other.example\r\n\r\n", "403", "", ""},
		{"absolute-form https", "GET https://admin.example.com/x HTTP/1.1\r\nHost: other.example\r\n\r\n", "403", "", ""},
		{"Host names the host", "GET /x HTTP/1.1\r\nHost: admin.example.com\r\n\r\n", "403", "", ""},
		{"Host with a trailing dot", "GET /x HTTP/1.1\r\nHost: Admin.Example.Com.:80\r\n\r\n", "403", "", ""},
		{"absolute-form names another host", "GET http://other.example/x?q HTTP/1.1\r\nHost: admin.example.com\r\n\r\n", "200", "other.example", "/x?q"},
		{"another host", "GET /x HTTP/1.1\r\nHost: other.example\r\n\r\n", "200", "other.example", "/x"},
		{"no Host", "GET /x HTTP/1.1\r\n\r\n", "400", "", ""},
		{"no Host, absolute-form", "GET http://other.example/x HTTP/1.1\r\n\r\n", "400", "", ""},
		{"two Hosts", "GET /x HTTP/1.1\r\nHost: other.example\r\nHost: admin.example.com\r\n\r\n", "400", "", ""},
		{"Host list", "GET /x HTTP/1.1\r\nHost: other.example,admin.example.com\r\n\r\n", "400", "", ""},
		{"Host with user info", "GET /x HTTP/1.1\r\nHost: u@admin.example.com\r\n\r\n", "400", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := member.mark()
			rs := httpSend(t, addr, nil, tc.raw)
			got := member.since(t, before)
			if httpStatuses(rs) != tc.want {
				t.Fatalf("statuses %q, want %q; member saw %+v", httpStatuses(rs), tc.want, got)
			}
			if tc.want != "200" {
				if len(got) != 0 {
					t.Fatalf("the member saw a refused request: %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].target != tc.target || fmt.Sprint(got[0].values("Host")) != "["+tc.host+"]" {
				t.Fatalf("member saw %+v, want %s with Host %s alone", got, tc.target, tc.host)
			}
		})
	}
}

// TestHTTPPathRuleEncodings: REJECT policies on PATH (STARTS_WITH /admin, EQUAL_TO
// /secret, REGEX ^/private/) cannot be passed with another spelling of the path that
// servers read as the same one: %-escapes, empty and dot segments, encoded slashes and
// dots, path parameters. Malformed escapes and fragments are 400.
func TestHTTPPathRuleEncodings(t *testing.T) {
	c := newCloud(t)
	s := c.user(t, "sec-http-path", "paula", "member")
	member := httpStartMember(t)
	addr := httpDeploy(t, s, member, nil,
		map[string]any{"action": "REJECT", "rules": []map[string]any{{"type": "PATH", "compare_type": "STARTS_WITH", "value": "/admin"}}},
		map[string]any{"action": "REJECT", "rules": []map[string]any{{"type": "PATH", "compare_type": "EQUAL_TO", "value": "/secret"}}},
		map[string]any{"action": "REJECT", "rules": []map[string]any{{"type": "PATH", "compare_type": "REGEX", "value": "^/private/"}}})
	for _, tc := range []struct{ path, want string }{
		{"/admin", "403"}, {"/%61dmin", "403"}, {"/%61%64%6D%69%6E/x", "403"}, {"//admin", "403"}, {"/./admin", "403"},
		{"/admin/../admin", "403"}, {"/x/../admin", "403"}, {"/%2e/admin", "403"}, {"/%2E%2E/admin", "403"},
		{"/x/%2e%2e/admin", "403"}, {"/%2Fadmin", "403"}, {"/x%2f..%2fadmin", "403"}, {"/x/..;/admin", "403"},
		{"/secret", "403"}, {"/secret/.", "200"}, // "/secret/" is another path: EQUAL_TO /secret does not match {"/%73ecret", "403"}, {"//secret", "403"}, {"/secret;jsessionid=1", "403"},
		{"/x/../secret?q=1", "403"}, {"/private/a", "403"}, {"/%70rivate/a", "403"}, {"/./private//a", "403"},
		{"/public", "200"}, {"/secretary", "200"}, {"/a/..b", "200"},
		{"/admin%", "400"}, {"/%zzadmin", "400"}, {"/admin%00", "400"}, {"/admin#x", "400"}, {"\\admin", "400"}, {"admin", "400"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			want := tc.want
			before := member.mark()
			rs := httpSend(t, addr, nil, "GET "+tc.path+" HTTP/1.1\r\nHost: app.example\r\n\r\n")
			got := member.since(t, before)
			if httpStatuses(rs) != want {
				t.Fatalf("GET %s: statuses %q, want %q; member saw %+v", tc.path, httpStatuses(rs), want, got)
			}
			if want != "200" && len(got) != 0 {
				t.Fatalf("GET %s: the member saw %+v", tc.path, got)
			}
			if want == "200" && (len(got) != 1 || got[0].target != tc.path) {
				t.Fatalf("GET %s: the member saw %+v, want the target as the client sent it", tc.path, got)
			}
		})
	}
	// Headers some servers take as the path instead of the target do not reach the member.
	before := member.mark()
	rs := httpSend(t, addr, nil, "GET /public HTTP/1.1\r\nHost: app.example\r\nX-Original-URL: /admin\r\nX-Rewrite-URL: /admin\r\n\r\n")
	got := member.since(t, before)
	if httpStatuses(rs) != "200" || len(got) != 1 || len(got[0].values("X-Original-URL")) != 0 || len(got[0].values("X-Rewrite-URL")) != 0 {
		t.Fatalf("path override headers: statuses %s, member saw %+v", httpStatuses(rs), got)
	}
}
