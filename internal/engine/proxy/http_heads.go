package proxy

import (
	"strconv"

	"github.com/fulcrumlb/fulcrum/internal/engine/balance"
)

// The heads the engine writes itself: the request to the member (origin-form,
// one Host, the framing it re-frames with, inserted headers replacing client
// copies) and the response to the client.

// buildRequest writes the head sent to the member: the request line (an absolute-form
// target as its path and query), Host (the request's one host), the client's fields minus
// hop-by-hop ones, framing and Host fields (written from what the parser decided) and
// client copies of the inserted headers, then the framing, the upgrade or keep-alive
// tokens we keep, and the inserted headers.
func (h *httpConn) buildRequest(fe *Frontend, out []byte) []byte {
	req := &h.req
	hd := req.head
	out = append(out, req.first[0].of(hd)...)
	out = append(out, ' ')
	if req.absolute {
		pq := req.pathQuery.of(hd)
		if len(pq) == 0 || pq[0] != '/' {
			out = append(out, '/')
		}
		out = append(out, pq...)
	} else {
		out = append(out, req.first[1].of(hd)...)
	}
	out = append(out, ' ')
	out = append(out, req.first[2].of(hd)...)
	out = append(out, "\r\n"...)
	if req.hasHost {
		out = append(out, "Host: "...)
		out = append(out, req.hostValue.of(hd)...)
		out = append(out, "\r\n"...)
	}
	for i := range req.fields {
		f := &req.fields[i]
		if f.drop {
			continue
		}
		out = append(out, f.line.of(hd)...)
		out = append(out, "\r\n"...)
	}
	switch {
	case req.chunked:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	case req.contentLength >= 0:
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, req.contentLength, 10)
		out = append(out, "\r\n"...)
	}
	switch {
	case req.connUpgrade && req.upgrade >= 0:
		out = append(out, "Connection: Upgrade\r\nUpgrade: "...)
		out = append(out, req.fields[req.upgrade].value.of(hd)...)
		out = append(out, "\r\n"...)
	case req.http10:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	if fe.xff {
		out = append(out, "X-Forwarded-For: "...)
		out = append(out, h.ipText...)
		out = append(out, "\r\n"...)
	}
	if fe.portHeader != nil {
		out = append(out, fe.portHeader...)
	}
	if fe.xfProto {
		if fe.TLS != nil {
			out = append(out, "X-Forwarded-Proto: https\r\n"...)
		} else {
			out = append(out, "X-Forwarded-Proto: http\r\n"...)
		}
	}
	if fe.realIP {
		out = append(out, "X-Real-IP: "...)
		out = append(out, h.ipText...)
		out = append(out, "\r\n"...)
	}
	if fe.clientIP {
		out = append(out, "X-Client-IP: "...)
		out = append(out, h.ipText...)
		out = append(out, "\r\n"...)
	}
	if fe.fwdIP {
		out = append(out, "X-Forwarded-IP: "...)
		out = append(out, h.ipText...)
		out = append(out, "\r\n"...)
	}
	if fe.anySSL && h.info != nil {
		out = append(out, h.sslBlock...)
	}
	return append(out, "\r\n"...)
}

// buildResponse writes the head sent to the client: the status line, the member's fields
// minus hop-by-hop and framing ones, the framing the engine forwards with (chunked, or
// the length; none for an HTTP/1.0 client of a chunked response, whose end is the end of
// the connection), the persistence cookie and the connection's fate.
func (h *httpConn) buildResponse(out []byte, m *balance.Member, insertCookie, keep, client10 bool) []byte {
	res := &h.res
	hd := res.head
	out = append(out, "HTTP/1.1 "...)
	out = append(out, hd[9:res.first[2][1]]...)
	out = append(out, "\r\n"...)
	for i := range res.fields {
		f := &res.fields[i]
		if f.drop {
			continue
		}
		out = append(out, f.line.of(hd)...)
		out = append(out, "\r\n"...)
	}
	switch {
	case res.chunked:
		if !client10 {
			out = append(out, "Transfer-Encoding: chunked\r\n"...)
		}
	case res.contentLength >= 0:
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, res.contentLength, 10)
		out = append(out, "\r\n"...)
	}
	if insertCookie {
		out = append(out, "Set-Cookie: "+HTTPCookieName+"="...)
		out = append(out, m.ID...)
		out = append(out, "; path=/\r\n"...)
	}
	switch {
	case !keep:
		out = append(out, "Connection: close\r\n"...)
	case client10:
		out = append(out, "Connection: keep-alive\r\n"...)
	}
	return append(out, "\r\n"...)
}

// appendInterim writes an interim (1xx) response head, rebuilt from what was parsed.
func appendInterim(out []byte, res *message) []byte {
	hd := res.head
	out = append(out, "HTTP/1.1 "...)
	out = append(out, hd[9:res.first[2][1]]...)
	out = append(out, "\r\n"...)
	for i := range res.fields {
		if f := &res.fields[i]; !f.drop {
			out = append(out, f.line.of(hd)...)
			out = append(out, "\r\n"...)
		}
	}
	return append(out, "\r\n"...)
}

// ErrorResponse is the complete answer for an error status the engine generates.
func ErrorResponse(code int) []byte {
	text := "Bad Request"
	switch code {
	case 405:
		text = "Method Not Allowed"
	case 408:
		text = "Request Timeout"
	case 413:
		text = "Content Too Large"
	case 414:
		text = "URI Too Long"
	case 431:
		text = "Request Header Fields Too Large"
	case 502:
		text = "Bad Gateway"
	case 503:
		text = "Service Unavailable"
	case 504:
		text = "Gateway Timeout"
	}
	body := strconv.Itoa(code) + " " + text + "\n"
	return []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\nContent-Type: text/plain\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n" + body)
}
