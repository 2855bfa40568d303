// Package vrrp gives a load balancer's VIP to one host of a pair at a time, by VRRP, with
// keepalived doing the protocol: it renders keepalived's configuration from a Config value
// (Render), and a Supervisor runs keepalived in the foreground, reloads it on change, restarts
// it when it dies, feeds it the local engine's health and reports each instance's state
// (MASTER, BACKUP, FAULT) as keepalived changes it.
//
// The shape fulcrum uses (docs/active-standby.md): one VRRP instance per ordered pair of agents
// and VIP interface, carrying the VIPs of every load balancer placed on that pair with that
// agent preferred; unicast adverts between the two agents' addresses (VRRPv3, sub-second
// advert_int); nopreempt; GARP on takeover; a track_file the supervisor writes from the engine's
// health; a notify FIFO for state changes.
//
// Standard library only, plus fulcrum's atomicfile. It must not import the domain (lb) or the
// store: the agent drives it.
package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Defaults fulcrum uses when a setting is left zero. See docs/active-standby.md for the
// figures they give.
const (
	// DefaultAdvertInterval: with the RFC's 3 missed adverts plus skew, a BACKUP of priority
	// 90 takes over from a silent MASTER after about 0.73 s, and from a MASTER that
	// resigns (priority 0 advert: keepalived stopped, engine unhealthy) after about 0.13 s.
	DefaultAdvertInterval = 200 * time.Millisecond
	// DefaultMasterPriority and DefaultBackupPriority are Octavia's.
	DefaultMasterPriority = 100
	DefaultBackupPriority = 90
	// PromotePriority is what a BACKUP is given, with preemption, to take the VIP from a
	// healthy MASTER in a planned handover (Pair.Handover).
	PromotePriority = 254
)

// Errors matched with errors.Is.
var (
	// ErrInvalid: a Config breaks a rule; the message names the field.
	ErrInvalid = errors.New("invalid vrrp configuration")
	// ErrNoVRID: every virtual router ID is taken (AllocateVRID).
	ErrNoVRID = errors.New("no free virtual router id")
)

// Config is the whole VRRP configuration of one host. A Config is a value: the Supervisor
// keeps the one it runs and compares the next with it.
type Config struct {
	// RouterID names the host in keepalived's logs; empty means "fulcrum".
	RouterID string
	// Instances are the VRRP instances this host takes part in. Zero instances is valid
	// (keepalived idles).
	Instances []Instance
	// Scripts are health checks (keepalived vrrp_script) instances may track in addition to
	// the engine health file every instance tracks.
	Scripts []Script
}

// Instance is one VRRP instance (a virtual router) on this host.
type Instance struct {
	// Name identifies the instance in events; letters, digits, '_', '.', '-', at most 64.
	// Both hosts of a pair use the same name.
	Name string
	// Interface carries the adverts and gets the VIPs.
	Interface string
	// VRID is the virtual router ID, 1–255. With unicast adverts it needs to be unique only
	// among the instances of one interface that share a peer (keepalived's rule); fulcrum
	// allocates it per pair (AllocateVRID).
	VRID int
	// Priority is 1–254; the higher wins the election.
	Priority int
	// Preempt lets this host take the VIP from a MASTER of lower priority. Off (nopreempt,
	// the default) a VIP moves only when its holder fails or resigns, so a member that
	// comes back does not cause a second interruption.
	Preempt bool
	// AdvertInterval is how often the MASTER advertises: a multiple of 10 ms from 10 ms to
	// 40.95 s (VRRPv3 centiseconds). Zero means DefaultAdvertInterval.
	AdvertInterval time.Duration
	// SourceIP is this host's address on Interface (IPv4); adverts go from it.
	SourceIP netip.Addr
	// Peers are the other members' addresses: adverts are unicast to them and only theirs
	// are accepted.
	Peers []netip.Addr
	// VIPs are plumbed on Interface while this host is MASTER: the load balancers' VIPs
	// (IPv4 or IPv6, usually /32 and /128). It may be empty: the instance still elects its
	// MASTER, so that a group can be made ready before VIPs are moved into it (make before
	// break, docs/active-standby.md).
	VIPs []netip.Prefix
	// Scripts names Config.Scripts this instance tracks.
	Scripts []string
}

// Script is a health check keepalived runs every Interval; an instance that tracks it goes
// to FAULT (and gives up its VIPs) after Fall failures and comes back after Rise successes.
// keepalived counts in whole seconds; the engine health file (Supervisor.SetHealthy) is the
// fast path.
type Script struct {
	// Name identifies the script in Instance.Scripts (same characters as instance names).
	Name string
	// Command is the program (absolute path) and its arguments; no element may contain
	// whitespace or quotes. Exit status 0 is healthy.
	Command []string
	// Interval between runs and Timeout of one run: whole seconds, at least 1 s. Zero
	// Timeout means Interval.
	Interval, Timeout time.Duration
	// Fall and Rise: consecutive failures and successes that change the state; zero means 2.
	Fall, Rise int
}

// State is a VRRP instance's state as keepalived reports it, or STOPPED when keepalived is
// not running.
type State string

// States.
const (
	StateBackup State = "BACKUP"
	StateMaster State = "MASTER"
	StateFault  State = "FAULT"
	// StateStop: keepalived stopped the instance (it was shutting down).
	StateStop State = "STOP"
	// StateDeleted: a reload removed the instance.
	StateDeleted State = "DELETED"
	// StateMasterRxLowerPri is not a state but a notice: the MASTER heard an advert of
	// lower priority (another host believed itself MASTER, e.g. after a partition).
	StateMasterRxLowerPri State = "MASTER_RX_LOWER_PRI"
	// StateStopped is the supervisor's own: keepalived exited (and is being restarted).
	// Addresses it plumbed may stay until the next keepalived removes them at start.
	StateStopped State = "STOPPED"
)

// Event is one state change of one instance.
type Event struct {
	Instance string
	State    State
	// Priority is the instance's effective priority keepalived reported (0 for STOPPED).
	Priority int
	// At is when the supervisor read the event.
	At time.Time
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
var ifNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// Validate checks the configuration; errors wrap ErrInvalid and name the field
// ("instances[2].vrid: ...").
func (c *Config) Validate() error {
	if c.RouterID != "" && !nameRE.MatchString(c.RouterID) {
		return invalid("router_id", "%q: letters, digits, '_', '.', '-', at most 64", c.RouterID)
	}
	scripts := map[string]bool{}
	for i, s := range c.Scripts {
		f := fmt.Sprintf("scripts[%d]", i)
		if !nameRE.MatchString(s.Name) {
			return invalid(f+".name", "%q: letters, digits, '_', '.', '-', at most 64", s.Name)
		}
		if scripts[s.Name] {
			return invalid(f+".name", "%q used twice", s.Name)
		}
		scripts[s.Name] = true
		if len(s.Command) == 0 || !strings.HasPrefix(s.Command[0], "/") {
			return invalid(f+".command", "needs an absolute program path")
		}
		for j, a := range s.Command {
			if a == "" || strings.ContainsAny(a, " \t\r\n\"'\\") {
				return invalid(fmt.Sprintf("%s.command[%d]", f, j), "%q: empty or contains whitespace, a quote or a backslash", a)
			}
		}
		if s.Interval < time.Second || s.Interval%time.Second != 0 || s.Interval > time.Hour {
			return invalid(f+".interval", "%v: whole seconds from 1 s to 1 h", s.Interval)
		}
		if s.Timeout != 0 && (s.Timeout < time.Second || s.Timeout%time.Second != 0 || s.Timeout > time.Hour) {
			return invalid(f+".timeout", "%v: whole seconds from 1 s to 1 h", s.Timeout)
		}
		if s.Fall < 0 || s.Fall > 1000 || s.Rise < 0 || s.Rise > 1000 {
			return invalid(f, "fall and rise must be 0 (default) to 1000")
		}
	}
	names := map[string]bool{}
	vips := map[netip.Addr]string{}
	type vridKey struct {
		ifc  string
		vrid int
	}
	peersOf := map[vridKey][]netip.Addr{}
	for i, in := range c.Instances {
		f := fmt.Sprintf("instances[%d]", i)
		if !nameRE.MatchString(in.Name) {
			return invalid(f+".name", "%q: letters, digits, '_', '.', '-', at most 64", in.Name)
		}
		if names[in.Name] {
			return invalid(f+".name", "%q used twice", in.Name)
		}
		names[in.Name] = true
		if !ifNameRE.MatchString(in.Interface) {
			return invalid(f+".interface", "%q is not an interface name", in.Interface)
		}
		if in.VRID < 1 || in.VRID > 255 {
			return invalid(f+".vrid", "%d is outside 1–255", in.VRID)
		}
		if in.Priority < 1 || in.Priority > 254 {
			return invalid(f+".priority", "%d is outside 1–254", in.Priority)
		}
		if a := in.AdvertInterval; a != 0 && (a < 10*time.Millisecond || a > 4095*10*time.Millisecond || a%(10*time.Millisecond) != 0) {
			return invalid(f+".advert_interval", "%v: a multiple of 10 ms from 10 ms to 40.95 s", a)
		}
		if !unicastHost(in.SourceIP) || !in.SourceIP.Is4() {
			return invalid(f+".source_ip", "%v: an IPv4 unicast address is required (IPv6 adverts are not supported yet)", in.SourceIP)
		}
		if len(in.Peers) == 0 {
			return invalid(f+".peers", "at least one peer is required")
		}
		seen := map[netip.Addr]bool{}
		for j, p := range in.Peers {
			pf := fmt.Sprintf("%s.peers[%d]", f, j)
			if !unicastHost(p) || !p.Is4() {
				return invalid(pf, "%v: an IPv4 unicast address is required", p)
			}
			if p == in.SourceIP {
				return invalid(pf, "%v is the source address", p)
			}
			if seen[p] {
				return invalid(pf, "%v given twice", p)
			}
			seen[p] = true
		}
		k := vridKey{in.Interface, in.VRID}
		for _, p := range in.Peers {
			for _, q := range peersOf[k] {
				if p == q {
					return invalid(f+".vrid", "%d is already used on %s with peer %v", in.VRID, in.Interface, p)
				}
			}
		}
		peersOf[k] = append(peersOf[k], in.Peers...)
		for j, v := range in.VIPs {
			vf := fmt.Sprintf("%s.vips[%d]", f, j)
			if !v.IsValid() || !unicastHost(v.Addr()) || v.Addr().Zone() != "" {
				return invalid(vf, "%v: a unicast address with a prefix length is required", v)
			}
			a := v.Addr()
			if a == in.SourceIP || seen[a] {
				return invalid(vf, "%v is the address of a member", a)
			}
			if other, ok := vips[a]; ok {
				return invalid(vf, "%v is also a VIP of %s", a, other)
			}
			vips[a] = fmt.Sprintf("%s (%s)", in.Name, vf)
		}
		for j, s := range in.Scripts {
			if !scripts[s] {
				return invalid(fmt.Sprintf("%s.scripts[%d]", f, j), "%q is not a script of this configuration", s)
			}
		}
	}
	return nil
}

// unicastHost reports whether a can be a host's or a VIP's address.
func unicastHost(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast() &&
		!a.IsLinkLocalUnicast() && !a.IsLinkLocalMulticast() && !(a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}))
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
}

// AllocateVRID returns the lowest virtual router ID (1–255) that is in none of the used sets
// (typically the IDs in use on each of the two hosts' interface), or ErrNoVRID.
func AllocateVRID(used ...[]int) (int, error) {
	var taken [256]bool
	for _, u := range used {
		for _, v := range u {
			if v >= 1 && v <= 255 {
				taken[v] = true
			}
		}
	}
	for v := 1; v <= 255; v++ {
		if !taken[v] {
			return v, nil
		}
	}
	return 0, ErrNoVRID
}

// Member is one host of a Pair.
type Member struct {
	// Interface and Addr: the host's interface on the VIP segment and its address there
	// (Octavia's vrrp_interface and vrrp_ip).
	Interface string
	Addr      netip.Addr
}

// Pair is one VRRP group of two hosts: the VIPs they serve, with Master preferred. It builds
// the Instance each host runs.
type Pair struct {
	Name           string
	VRID           int
	AdvertInterval time.Duration
	Master, Backup Member
	// MasterPriority and BackupPriority: zero means DefaultMasterPriority and
	// DefaultBackupPriority.
	MasterPriority, BackupPriority int
	VIPs                           []netip.Prefix
	Scripts                        []string
}

// Instances returns the master's and the backup's instance (both nopreempt).
func (p Pair) Instances() (master, backup Instance) {
	mp, bp := p.MasterPriority, p.BackupPriority
	if mp == 0 {
		mp = DefaultMasterPriority
	}
	if bp == 0 {
		bp = DefaultBackupPriority
	}
	return p.instance(p.Master, p.Backup, mp), p.instance(p.Backup, p.Master, bp)
}

// Handover returns the backup's instance for a planned handover: priority PromotePriority
// with preemption, so that it takes the VIPs over from the healthy master (make before
// break: it plumbs them and sends GARPs before the master, hearing the higher priority, lets
// them go). Once the master reports BACKUP, swap Master and Backup and apply Instances to
// both hosts again.
func (p Pair) Handover() Instance {
	in := p.instance(p.Backup, p.Master, PromotePriority)
	in.Preempt = true
	return in
}

func (p Pair) instance(self, peer Member, prio int) Instance {
	return Instance{
		Name: p.Name, Interface: self.Interface, VRID: p.VRID, Priority: prio,
		AdvertInterval: p.AdvertInterval, SourceIP: self.Addr, Peers: []netip.Addr{peer.Addr},
		VIPs: append([]netip.Prefix(nil), p.VIPs...), Scripts: append([]string(nil), p.Scripts...),
	}
}
