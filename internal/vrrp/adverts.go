package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Adverts records the VRRP adverts this host receives from the peers it is told to watch,
// next to keepalived (a raw socket gets a copy of every VRRP packet; keepalived's own is not
// disturbed). keepalived does not say whether a member in FAULT hears its peer, and a held
// member (Supervisor.Hold) must know when the pair hears itself again: an advert from the
// peer, a MASTER's, says the path between them works.
//
// It needs CAP_NET_RAW, like keepalived, and sees the network namespace it was opened in.
type Adverts struct {
	conn net.PacketConn
	now  func() time.Time
	done chan struct{}

	mu      sync.Mutex
	watched map[AdvertKey]bool
	last    map[AdvertKey]Advert
}

// AdvertKey names the adverts of one VRRP instance as a member receives them: the peer's
// address and the virtual router ID.
type AdvertKey struct {
	Peer netip.Addr
	VRID int
}

// Advert is the last advert received for a key.
type Advert struct {
	At       time.Time
	Priority int // 0: the sender resigned
}

// ListenAdverts opens the raw socket and starts reading; Close stops it.
func ListenAdverts() (*Adverts, error) {
	c, err := net.ListenPacket("ip4:112", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("vrrp adverts: %w", err)
	}
	w := &Adverts{conn: c, now: time.Now, done: make(chan struct{}), watched: map[AdvertKey]bool{}, last: map[AdvertKey]Advert{}}
	go w.read()
	return w, nil
}

// Watch sets the keys whose adverts are recorded (the others are dropped: a sender on the
// segment cannot make the record grow). Records of keys no longer watched are forgotten.
func (w *Adverts) Watch(keys []AdvertKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.watched = make(map[AdvertKey]bool, len(keys))
	for _, k := range keys {
		w.watched[k] = true
	}
	for k := range w.last {
		if !w.watched[k] {
			delete(w.last, k)
		}
	}
}

// Last returns the last advert received for k, if any since it was watched.
func (w *Adverts) Last(k AdvertKey) (Advert, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	a, ok := w.last[k]
	return a, ok
}

// Close stops reading and waits for the reader to end.
func (w *Adverts) Close() error {
	err := w.conn.Close()
	<-w.done
	return err
}

func (w *Adverts) read() {
	defer close(w.done)
	buf := make([]byte, 1500)
	for {
		n, from, err := w.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		ipa, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		src, ok := netip.AddrFromSlice(ipa.IP)
		if !ok {
			continue
		}
		vrid, prio, ok := parseAdvert(buf[:n])
		if !ok {
			continue
		}
		k := AdvertKey{Peer: src.Unmap(), VRID: vrid}
		w.mu.Lock()
		if w.watched[k] {
			w.last[k] = Advert{At: w.now(), Priority: prio}
		}
		w.mu.Unlock()
	}
}

// parseAdvert reads a VRRP advertisement (version 2 or 3, RFC 3768 and 5798; the IPv4 header
// is already stripped): the virtual router ID and the priority.
func parseAdvert(b []byte) (vrid, prio int, ok bool) {
	if len(b) < 8 {
		return 0, 0, false
	}
	version, typ := b[0]>>4, b[0]&0x0f
	if (version != 2 && version != 3) || typ != 1 || b[1] == 0 {
		return 0, 0, false
	}
	return int(b[1]), int(b[2]), true
}
