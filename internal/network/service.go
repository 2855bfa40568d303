package network

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/httpapi"
	"github.com/fulcrumlb/fulcrum/internal/network/neutron"
	"github.com/fulcrumlb/fulcrum/internal/policy"
	"github.com/fulcrumlb/fulcrum/internal/store"
)

// Options configure NewService.
type Options struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// ExternalURL is scheme://host[:port] as clients see it; "" derives it
	// from each request.
	ExternalURL string
	// Notify, if set, is told about load balancers whose served addresses
	// changed (floating IPs (dis)associated with their VIP port).
	Notify func(lbID string)
	// Policy decides who may do what; nil is Neutron's defaults
	// (policy.NewNetwork).
	Policy *policy.Enforcer
	// AnyAddress lets subnets take any range and overlap across networks:
	// the noop network mode, where nothing is served from them. Otherwise
	// (loopback mode) subnets are served on this host's loopback interface,
	// so they must lie in Loopback's ranges and no two may overlap.
	AnyAddress bool
	// Segments, in segment network mode, are servable too (segment.go).
	Segments Segments
	// Quotas are the default network quotas of every project; nil is
	// Neutron's defaults (DefaultQuotas).
	Quotas *QuotaLimits
	// SubnetMinPrefix is, in loopback mode, the shortest IPv4 prefix (the
	// largest subnet) a caller who is not an admin may create: subnets
	// share the host's address space, and a wide one would keep every other
	// project's out of it. 0 is DefaultSubnetMinPrefix; 8 lets anyone claim
	// the whole servable range.
	SubnetMinPrefix int
}

// DefaultSubnetMinPrefix is Options.SubnetMinPrefix's default: a /24.
const DefaultSubnetMinPrefix = 24

// Service is the Neutron subset, an http.Handler for /networking/... and
// for /v2.0/{networks,subnets,ports,floatingips,qos,extensions} (clients
// given a single endpoint send network calls there). The caller comes from
// policy.CallerFrom, set by the authentication middleware.
type Service struct {
	opts   Options
	log    *slog.Logger
	policy *policy.Enforcer
	space  addressSpace
	quotas QuotaLimits
	router *httpapi.Router
}

// NewService returns the service.
func NewService(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Policy == nil {
		p, err := policy.NewNetwork(policy.Options{})
		if err != nil {
			panic("network: Neutron's default policy does not parse: " + err.Error()) // a bug, caught by policy's tests
		}
		opts.Policy = p
	}
	opts.ExternalURL = strings.TrimSuffix(opts.ExternalURL, "/")
	if opts.SubnetMinPrefix == 0 {
		opts.SubnetMinPrefix = DefaultSubnetMinPrefix
	}
	s := &Service{opts: opts, log: opts.Logger.With("component", "network"), policy: opts.Policy,
		space: addressSpace{any: opts.AnyAddress, segments: opts.Segments, minPrefix: opts.SubnetMinPrefix, hints: newIPHints()}, quotas: DefaultQuotas}
	if opts.Quotas != nil {
		s.quotas = *opts.Quotas
	}
	s.routes()
	return s
}

// Paths lists the path prefixes the service answers, for mounting on a mux.
// (/v2.0/quotas there is Octavia's: the subset's quotas are served under
// /networking only.)
var Paths = []string{"/networking", "/networking/", "/v2.0/networks", "/v2.0/networks/", "/v2.0/subnets", "/v2.0/subnets/",
	"/v2.0/ports", "/v2.0/ports/", "/v2.0/floatingips", "/v2.0/floatingips/", "/v2.0/qos/", "/v2.0/extensions", "/v2.0/extensions/",
	"/v2.0/security-groups", "/v2.0/security-groups/", "/v2.0/security-group-rules", "/v2.0/security-group-rules/"}

// ServeHTTP serves the Neutron subset: /networking/v2.0/x is /v2.0/x, and
// a trailing ".json" is ignored.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/networking"); ok && rest != "" && rest != "/" {
		r2 := r.Clone(r.Context())
		r2.URL.Path = rest
		r2.URL.RawPath = ""
		r = r2
	}
	r.URL.Path = strings.TrimSuffix(r.URL.Path, ".json")
	s.router.ServeHTTP(w, r)
}

type handler func(w http.ResponseWriter, r *http.Request, c policy.Caller) error

// unauthorized is Keystone's 401 body, for a request that reached the
// service without a caller (the middleware answers it first in a server).
type unauthorized struct {
	Error struct {
		Code    int    `json:"code"`
		Title   string `json:"title"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *Service) handle(pattern string, h handler) {
	s.router.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c, ok := policy.CallerFrom(r.Context())
		if !ok {
			var u unauthorized
			u.Error.Code, u.Error.Title, u.Error.Message = 401, "Unauthorized", "The request you have made requires authentication."
			httpapi.WriteJSON(w, http.StatusUnauthorized, u)
			return
		}
		if err := h(w, r, c); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Service) routes() {
	s.router = &httpapi.Router{
		NotFound: func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, &Error{Code: http.StatusNotFound, Type: "HTTPNotFound", Message: "The resource could not be found."})
		},
		MethodNotAllowed: func(w http.ResponseWriter, r *http.Request, _ string) {
			s.writeError(w, r, &Error{Code: http.StatusMethodNotAllowed, Type: "HTTPMethodNotAllowed",
				Message: fmt.Sprintf("The method %s is not allowed for this resource.", r.Method)})
		},
	}
	s.router.HandleFunc("GET /networking", s.versions)
	s.router.HandleFunc("GET /networking/{$}", s.versions)
	s.handle("GET /v2.0/{$}", s.resources)
	s.handle("GET /v2.0", s.resources)
	s.handle("GET /v2.0/extensions", s.extensions)

	collections := []struct {
		path                           string
		list, create, get, set, delete handler
	}{
		{"/v2.0/networks", networkResource.list(s), create(s, networkResource, s.createNetwork), networkResource.show(s),
			modify(s, networkResource, s.changeNetwork), networkResource.remove(s, deleteNetwork)},
		{"/v2.0/subnets", subnetResource.list(s), create(s, subnetResource, s.createSubnet), subnetResource.show(s),
			modify(s, subnetResource, s.changeSubnet), subnetResource.remove(s, deleteSubnet)},
		{"/v2.0/ports", s.listPorts, create(s, portResource, s.createPort), portResource.show(s),
			modify(s, portResource, s.changePort), portResource.remove(s, s.deletePortCall)},
		{"/v2.0/floatingips", floatingIPResource.list(s), create(s, floatingIPResource, s.createFloatingIP), floatingIPResource.show(s),
			modify(s, floatingIPResource, s.changeFloatingIP), floatingIPResource.remove(s, s.deleteFloatingIP)},
		{"/v2.0/qos/policies", qosResource.list(s), create(s, qosResource, s.createQoSPolicy), qosResource.show(s),
			modify(s, qosResource, s.changeQoSPolicy), qosResource.remove(s, deleteQoSPolicy)},
		{"/v2.0/security-groups", s.listSecurityGroups, create(s, securityGroupResource, s.createSecurityGroup), securityGroupResource.show(s),
			withRevision(modify(s, securityGroupResource, s.changeSecurityGroup)), s.removeSecurityGroup},
		{"/v2.0/security-group-rules", s.listRules, s.createRules, ruleResource.show(s),
			modify(s, ruleResource, s.changeRule), ruleResource.remove(s, s.deleteRule)},
	}
	for _, col := range collections {
		s.handle("GET "+col.path, col.list)
		s.handle("POST "+col.path, col.create)
		s.handle("GET "+col.path+"/{id}", col.get)
		s.handle("PUT "+col.path+"/{id}", col.set)
		s.handle("DELETE "+col.path+"/{id}", col.delete)
	}
	for path, t := range map[string]tagged{
		"/v2.0/networks": tagsOf(networkResource, func(n *neutron.Network) *[]string { return &n.Tags },
			func(n *neutron.Network, s *Service) { n.UpdatedAt = s.now() }),
		"/v2.0/subnets": tagsOf(subnetResource, func(n *neutron.Subnet) *[]string { return &n.Tags },
			func(n *neutron.Subnet, s *Service) { n.UpdatedAt = s.now() }),
		"/v2.0/ports": tagsOf(portResource, func(p *neutron.Port) *[]string { return &p.Tags },
			func(p *neutron.Port, s *Service) { p.UpdatedAt = s.now() }),
		"/v2.0/floatingips": tagsOf(floatingIPResource, func(f *neutron.FloatingIP) *[]string { return &f.Tags },
			func(f *neutron.FloatingIP, s *Service) { f.UpdatedAt = s.now() }),
		"/v2.0/security-groups": tagsOf(securityGroupResource, func(g *neutron.SecurityGroup) *[]string { return &g.Tags },
			func(g *neutron.SecurityGroup, s *Service) { g.RevisionNumber++; g.UpdatedAt = s.now() }),
		"/v2.0/qos/policies": tagsOf(qosResource, func(q *neutron.QoSPolicy) *[]string { return &q.Tags },
			func(q *neutron.QoSPolicy, s *Service) { q.UpdatedAt = s.now() }),
	} {
		s.tagRoutes(path, t)
	}
	s.quotaRoutes()
}

type link struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

type version struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Links  []link `json:"links"`
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Versions []version `json:"versions"`
	}{[]version{{ID: "v2.0", Status: "CURRENT", Links: []link{{Rel: "self", Href: s.baseURL(r) + "/networking/v2.0/"}}}}})
}

type collection struct {
	Name       string `json:"name"`
	Collection string `json:"collection"`
	Links      []link `json:"links"`
}

func (s *Service) resources(w http.ResponseWriter, r *http.Request, _ policy.Caller) error {
	var out []collection
	for _, res := range []struct{ name, coll string }{{"network", "networks"}, {"subnet", "subnets"}, {"port", "ports"}, {"floatingip", "floatingips"},
		{"security_group", "security-groups"}, {"security_group_rule", "security-group-rules"}, {"quota", "quotas"}} {
		out = append(out, collection{Name: res.name, Collection: res.coll,
			Links: []link{{Rel: "self", Href: s.baseURL(r) + "/networking/v2.0/" + res.coll}}})
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Resources []collection `json:"resources"`
	}{out})
	return nil
}

type extension struct {
	Alias       string `json:"alias"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Updated     string `json:"updated"`
	Links       []link `json:"links"`
}

func (s *Service) extensions(w http.ResponseWriter, r *http.Request, _ policy.Caller) error {
	var out []extension
	for _, e := range [][2]string{{"external-net", "Neutron external network"}, {"qos", "Quality of Service"},
		{"standard-attr-tag", "Tag support for resources with standard attribute"}, {"standard-attr-description", "standard-attr-description"},
		{"router", "Neutron L3 Router"}, {"quotas", "Quota management support"}, {"quota_details", "Quota details management support"},
		{"security-group", "security-group"}, {"port-security", "Port Security"}, {"stateful-security-group", "Stateful security group"}} {
		out = append(out, extension{Alias: e[0], Name: e[1], Description: e[1], Updated: "2016-01-01T00:00:00-00:00", Links: []link{}})
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Extensions []extension `json:"extensions"`
	}{out})
	return nil
}

func (s *Service) baseURL(r *http.Request) string { return httpapi.BaseURL(r, s.opts.ExternalURL) }

func newMAC() string {
	var b [3]byte
	_, _ = macRand(b[:])
	return fmt.Sprintf("fa:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// macRand fills the random part of a MAC address (a variable for tests).
var macRand = rand.Read

// freeMAC returns a MAC address no port of network networkID has. A MAC
// has 24 random bits and is unique per network (the store's key): drawn
// blindly, two of a few thousand ports on one network share one with
// good odds (about 1 in 4 at 3,000, near certainty at 10,000), and the
// create of the second failed with a conflict.
func freeMAC(ctx context.Context, tx store.Tx, networkID string) (string, error) {
	for range 16 {
		mac := newMAC()
		n, err := tx.Ports().Count(ctx, store.F("network_id", networkID), store.F("mac_address", mac))
		if err != nil {
			return "", err
		}
		if n == 0 {
			return mac, nil
		}
	}
	return "", conflict("MacAddressGenerationFailure", fmt.Sprintf("Unable to generate a unique mac on network %s.", networkID))
}

func (s *Service) now() time.Time { return s.opts.Now().UTC() }

func (s *Service) view(ctx context.Context, fn func(store.Tx) error) error {
	return s.opts.Store.View(ctx, fn)
}

func (s *Service) update(ctx context.Context, fn func(store.Tx) error) error {
	return s.opts.Store.Update(ctx, fn)
}

func (s *Service) notify(lbIDs []string) {
	if s.opts.Notify == nil {
		return
	}
	for _, id := range lbIDs {
		s.opts.Notify(id)
	}
}
