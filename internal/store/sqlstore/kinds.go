package sqlstore

import (
	"strings"
	"time"

	"github.com/fulcrumlb/fulcrum/internal/lb"
)

// kind describes how one domain type is stored: its table and columns. The
// first column is always the primary key "id".
type kind[T any] struct {
	table  string
	cols   []column[T]
	byName map[string]int
	// The statements' texts that depend only on the kind, built once (the
	// server runs them at every write).
	selectList string // the quoted columns, comma-separated
	getSQL     string // SELECT of one row by id
	insertSQL  string // INSERT of every column
	updateSQL  string // UPDATE of every column but id, by id
	deleteSQL  string // DELETE of one row by id
}

func newKind[T any](table string, cols ...column[T]) *kind[T] {
	k := &kind[T]{table: table, cols: cols, byName: make(map[string]int, len(cols))}
	for i, c := range cols {
		k.byName[c.name] = i
	}
	if cols[0].name != "id" {
		panic("sqlstore: first column of " + table + " must be id")
	}
	names := make([]string, len(cols))
	marks := make([]string, len(cols))
	sets := make([]string, 0, len(cols)-1)
	for i, c := range cols {
		names[i] = q(c.name)
		marks[i] = "?"
		if i > 0 {
			sets = append(sets, q(c.name)+" = ?")
		}
	}
	k.selectList = strings.Join(names, ", ")
	k.getSQL = "SELECT " + k.selectList + " FROM " + q(table) + ` WHERE "id" = ?`
	k.insertSQL = "INSERT INTO " + q(table) + " (" + k.selectList + ") VALUES (" + strings.Join(marks, ", ") + ")"
	k.updateSQL = "UPDATE " + q(table) + " SET " + strings.Join(sets, ", ") + ` WHERE "id" = ?`
	k.deleteSQL = "DELETE FROM " + q(table) + ` WHERE "id" = ?`
	return k
}

func (k *kind[T]) col(name string) (*column[T], bool) {
	i, ok := k.byName[name]
	if !ok {
		return nil, false
	}
	return &k.cols[i], true
}

// statusCols are the status columns every load-balancer object has.
func statusCols[T any](f func(*T) *lb.Status) []column[T] {
	return []column[T]{
		enum("provisioning_status", func(v *T) *lb.ProvisioningStatus { return &f(v).Provisioning }),
		enum("operating_status", func(v *T) *lb.OperatingStatus { return &f(v).Operating }),
		integer64("status_gen", func(v *T) *int64 { return &f(v).Gen }),
	}
}

func timeCols[T any](f func(*T) *lb.Times) []column[T] {
	return []column[T]{
		timestamp("created_at", func(v *T) *time.Time { return &f(v).CreatedAt }),
		ptimestamp("updated_at", func(v *T) **time.Time { return &f(v).UpdatedAt }),
	}
}

func cat[T any](groups ...[]column[T]) []column[T] {
	var out []column[T]
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// kinds holds the descriptors of every stored type.
type kinds struct {
	loadBalancers  *kind[lb.LoadBalancer]
	listeners      *kind[lb.Listener]
	pools          *kind[lb.Pool]
	members        *kind[lb.Member]
	healthMonitors *kind[lb.HealthMonitor]
	l7Policies     *kind[lb.L7Policy]
	l7Rules        *kind[lb.L7Rule]
	catalog        catalogKinds
	quotas         *kind[lb.Quota]
	identity       identityKinds
	network        networkKinds
	secrets        secretKinds
	agents         *kind[lb.Agent]
	joinTokens     *kind[lb.JoinToken]
	amphorae       *kind[lb.Amphora]
	lbaasV1        lbaasV1Kinds
}

func newKinds() *kinds {
	type LB = lb.LoadBalancer
	type L = lb.Listener
	type P = lb.Pool
	type M = lb.Member
	type H = lb.HealthMonitor
	type Pol = lb.L7Policy
	type R = lb.L7Rule
	type A = lb.Agent
	type J = lb.JoinToken
	type Am = lb.Amphora
	return &kinds{
		catalog:  newCatalogKinds(),
		quotas:   newQuotaKind(),
		identity: newIdentityKinds(),
		network:  newNetworkKinds(),
		secrets:  newSecretKinds(),
		lbaasV1:  newLBaaSV1Kinds(),
		agents: newKind("agents", cat(
			[]column[A]{
				text("id", func(v *A) *string { return &v.ID }),
				text("name", func(v *A) *string { return &v.Name }),
				text("address", func(v *A) *string { return &v.Address }),
				text("availability_zone", func(v *A) *string { return &v.AvailabilityZone }),
				text("agent_group", func(v *A) *string { return &v.Group }),
				text("cert_serial", func(v *A) *string { return &v.CertSerial }),
				boolean("revoked", func(v *A) *bool { return &v.Revoked }),
				text("status", func(v *A) *string { return &v.Status }),
				uinteger64("applied_version", func(v *A) *uint64 { return &v.AppliedVersion }),
				uinteger64("refused_version", func(v *A) *uint64 { return &v.RefusedVersion }),
				text("refused_reason", func(v *A) *string { return &v.RefusedReason }),
				ptimestamp("last_heartbeat", func(v *A) **time.Time { return &v.LastHeartbeat }),
				jsonb("capabilities", func(v *A) *[]string { return &v.Capabilities }),
				jsonb("segments", func(v *A) *[]lb.AgentSegment { return &v.Segments }),
			},
			timeCols(func(v *A) *lb.Times { return &v.Times }),
		)...),
		joinTokens: newKind("join_tokens", cat(
			[]column[J]{
				text("id", func(v *J) *string { return &v.ID }),
				text("secret_hash", func(v *J) *string { return &v.SecretHash }),
				text("agent_name", func(v *J) *string { return &v.AgentName }),
				text("availability_zone", func(v *J) *string { return &v.AvailabilityZone }),
				text("agent_group", func(v *J) *string { return &v.Group }),
				timestamp("expires_at", func(v *J) *time.Time { return &v.ExpiresAt }),
				ptimestamp("used_at", func(v *J) **time.Time { return &v.UsedAt }),
			},
			timeCols(func(v *J) *lb.Times { return &v.Times }),
		)...),
		amphorae: newKind("amphorae", cat(
			[]column[Am]{
				text("id", func(v *Am) *string { return &v.ID }),
				text("loadbalancer_id", func(v *Am) *string { return &v.LoadBalancerID }),
				ref("agent_id", func(v *Am) *string { return &v.AgentID }),
				ref("role", func(v *Am) *string { return &v.Role }),
				text("status", func(v *Am) *string { return &v.Status }),
				ref("compute_id", func(v *Am) *string { return &v.ComputeID }),
				ref("lb_network_ip", func(v *Am) *string { return &v.LBNetworkIP }),
				ref("vrrp_ip", func(v *Am) *string { return &v.VRRPIP }),
				ref("ha_ip", func(v *Am) *string { return &v.HAIP }),
				ref("vrrp_port_id", func(v *Am) *string { return &v.VRRPPortID }),
				ref("ha_port_id", func(v *Am) *string { return &v.HAPortID }),
				ref("vrrp_interface", func(v *Am) *string { return &v.VRRPInterface }),
				pint("vrrp_id", func(v *Am) **int { return &v.VRRPID }),
				pint("vrrp_priority", func(v *Am) **int { return &v.VRRPPriority }),
				ref("cached_zone", func(v *Am) *string { return &v.CachedZone }),
				ref("image_id", func(v *Am) *string { return &v.ImageID }),
				ref("compute_flavor", func(v *Am) *string { return &v.ComputeFlavor }),
				ptimestamp("cert_expiration", func(v *Am) **time.Time { return &v.CertExpiration }),
				boolean("cert_busy", func(v *Am) *bool { return &v.CertBusy }),
				ptimestamp("role_since", func(v *Am) **time.Time { return &v.RoleSince }),
			},
			timeCols(func(v *Am) *lb.Times { return &v.Times }),
		)...),
		loadBalancers: newKind("load_balancers", cat(
			[]column[LB]{
				text("id", func(v *LB) *string { return &v.ID }),
				text("project_id", func(v *LB) *string { return &v.ProjectID }),
				text("name", func(v *LB) *string { return &v.Name }),
				text("description", func(v *LB) *string { return &v.Description }),
				boolean("admin_state_up", func(v *LB) *bool { return &v.AdminStateUp }),
			},
			statusCols(func(v *LB) *lb.Status { return &v.Status }),
			[]column[LB]{
				ref("vip_address", func(v *LB) *string { return &v.VIP.Address }),
				ref("vip_port_id", func(v *LB) *string { return &v.VIP.PortID }),
				ref("vip_subnet_id", func(v *LB) *string { return &v.VIP.SubnetID }),
				ref("vip_network_id", func(v *LB) *string { return &v.VIP.NetworkID }),
				ref("vip_qos_policy_id", func(v *LB) *string { return &v.VIP.QoSPolicyID }),
				jsonb("vip_sg_ids", func(v *LB) *[]string { return &v.VIP.SGIDs }),
				ref("vip_vnic_type", func(v *LB) *string { return &v.VIP.VNICType }),
				jsonb("additional_vips", func(v *LB) *[]lb.AdditionalVIP { return &v.AdditionalVIPs }),
				text("provider", func(v *LB) *string { return &v.Provider }),
				ref("provider_name", func(v *LB) *string { return &v.ProviderName }),
				ref("flavor_id", func(v *LB) *string { return &v.FlavorID }),
				ref("availability_zone", func(v *LB) *string { return &v.AvailabilityZone }),
				jsonb("tags", func(v *LB) *[]string { return &v.Tags }),
				integer64("generation", func(v *LB) *int64 { return &v.Generation }),
				integer64("applied_generation", func(v *LB) *int64 { return &v.AppliedGeneration }),
				text("last_error", func(v *LB) *string { return &v.LastError }),
			},
			timeCols(func(v *LB) *lb.Times { return &v.Times }),
		)...),
		listeners: newKind("listeners", cat(
			[]column[L]{
				text("id", func(v *L) *string { return &v.ID }),
				text("project_id", func(v *L) *string { return &v.ProjectID }),
				text("loadbalancer_id", func(v *L) *string { return &v.LoadBalancerID }),
				text("name", func(v *L) *string { return &v.Name }),
				text("description", func(v *L) *string { return &v.Description }),
				boolean("admin_state_up", func(v *L) *bool { return &v.AdminStateUp }),
			},
			statusCols(func(v *L) *lb.Status { return &v.Status }),
			[]column[L]{
				text("protocol", func(v *L) *string { return &v.Protocol }),
				integer("protocol_port", func(v *L) *int { return &v.ProtocolPort }),
				integer("connection_limit", func(v *L) *int { return &v.ConnectionLimit }),
				ref("default_pool_id", func(v *L) *string { return &v.DefaultPoolID }),
				jsonb("insert_headers", func(v *L) *map[string]string { return &v.InsertHeaders }),
				integer("timeout_client_data", func(v *L) *int { return &v.TimeoutClientData }),
				integer("timeout_member_connect", func(v *L) *int { return &v.TimeoutMemberConnect }),
				integer("timeout_member_data", func(v *L) *int { return &v.TimeoutMemberData }),
				integer("timeout_tcp_inspect", func(v *L) *int { return &v.TimeoutTCPInspect }),
				ptext("default_tls_container_ref", func(v *L) **string { return &v.DefaultTLSContainerRef }),
				jsonb("sni_container_refs", func(v *L) *[]string { return &v.SNIContainerRefs }),
				ptext("client_ca_tls_container_ref", func(v *L) **string { return &v.ClientCATLSContainerRef }),
				text("client_authentication", func(v *L) *string { return &v.ClientAuthentication }),
				ptext("client_crl_container_ref", func(v *L) **string { return &v.ClientCRLContainerRef }),
				jsonb("allowed_cidrs", func(v *L) *[]string { return &v.AllowedCIDRs }),
				ptext("tls_ciphers", func(v *L) **string { return &v.TLSCiphers }),
				jsonb("tls_versions", func(v *L) *[]string { return &v.TLSVersions }),
				jsonb("alpn_protocols", func(v *L) *[]string { return &v.ALPNProtocols }),
				pint("hsts_max_age", func(v *L) **int { return &v.HSTSMaxAge }),
				boolean("hsts_include_subdomains", func(v *L) *bool { return &v.HSTSIncludeSubdomains }),
				boolean("hsts_preload", func(v *L) *bool { return &v.HSTSPreload }),
				jsonb("tags", func(v *L) *[]string { return &v.Tags }),
			},
			timeCols(func(v *L) *lb.Times { return &v.Times }),
		)...),
		pools: newKind("pools", cat(
			[]column[P]{
				text("id", func(v *P) *string { return &v.ID }),
				text("project_id", func(v *P) *string { return &v.ProjectID }),
				text("loadbalancer_id", func(v *P) *string { return &v.LoadBalancerID }),
				text("name", func(v *P) *string { return &v.Name }),
				text("description", func(v *P) *string { return &v.Description }),
				boolean("admin_state_up", func(v *P) *bool { return &v.AdminStateUp }),
			},
			statusCols(func(v *P) *lb.Status { return &v.Status }),
			[]column[P]{
				text("protocol", func(v *P) *string { return &v.Protocol }),
				text("lb_algorithm", func(v *P) *string { return &v.LBAlgorithm }),
				jsonb("session_persistence", func(v *P) **lb.SessionPersistence { return &v.SessionPersistence }),
				boolean("tls_enabled", func(v *P) *bool { return &v.TLSEnabled }),
				ptext("tls_container_ref", func(v *P) **string { return &v.TLSContainerRef }),
				ptext("ca_tls_container_ref", func(v *P) **string { return &v.CATLSContainerRef }),
				ptext("crl_container_ref", func(v *P) **string { return &v.CRLContainerRef }),
				ptext("tls_ciphers", func(v *P) **string { return &v.TLSCiphers }),
				jsonb("tls_versions", func(v *P) *[]string { return &v.TLSVersions }),
				jsonb("alpn_protocols", func(v *P) *[]string { return &v.ALPNProtocols }),
				jsonb("tags", func(v *P) *[]string { return &v.Tags }),
			},
			timeCols(func(v *P) *lb.Times { return &v.Times }),
		)...),
		members: newKind("members", cat(
			[]column[M]{
				text("id", func(v *M) *string { return &v.ID }),
				text("project_id", func(v *M) *string { return &v.ProjectID }),
				text("pool_id", func(v *M) *string { return &v.PoolID }),
				text("loadbalancer_id", func(v *M) *string { return &v.LoadBalancerID }),
				text("name", func(v *M) *string { return &v.Name }),
				boolean("admin_state_up", func(v *M) *bool { return &v.AdminStateUp }),
			},
			statusCols(func(v *M) *lb.Status { return &v.Status }),
			[]column[M]{
				text("address", func(v *M) *string { return &v.Address }),
				integer("protocol_port", func(v *M) *int { return &v.ProtocolPort }),
				integer("weight", func(v *M) *int { return &v.Weight }),
				boolean("backup", func(v *M) *bool { return &v.Backup }),
				ref("subnet_id", func(v *M) *string { return &v.SubnetID }),
				ref("monitor_address", func(v *M) *string { return &v.MonitorAddress }),
				pint("monitor_port", func(v *M) **int { return &v.MonitorPort }),
				ref("vnic_type", func(v *M) *string { return &v.VNICType }),
				jsonb("tags", func(v *M) *[]string { return &v.Tags }),
			},
			timeCols(func(v *M) *lb.Times { return &v.Times }),
		)...),
		healthMonitors: newKind("health_monitors", cat(
			[]column[H]{
				text("id", func(v *H) *string { return &v.ID }),
				text("project_id", func(v *H) *string { return &v.ProjectID }),
				text("pool_id", func(v *H) *string { return &v.PoolID }),
				text("loadbalancer_id", func(v *H) *string { return &v.LoadBalancerID }),
				text("name", func(v *H) *string { return &v.Name }),
				boolean("admin_state_up", func(v *H) *bool { return &v.AdminStateUp }),
			},
			statusCols(func(v *H) *lb.Status { return &v.Status }),
			[]column[H]{
				text("type", func(v *H) *string { return &v.Type }),
				integer("delay", func(v *H) *int { return &v.Delay }),
				integer("timeout", func(v *H) *int { return &v.Timeout }),
				integer("max_retries", func(v *H) *int { return &v.MaxRetries }),
				integer("max_retries_down", func(v *H) *int { return &v.MaxRetriesDown }),
				ptext("http_method", func(v *H) **string { return &v.HTTPMethod }),
				ptext("url_path", func(v *H) **string { return &v.URLPath }),
				ptext("expected_codes", func(v *H) **string { return &v.ExpectedCodes }),
				pfloat("http_version", func(v *H) **float64 { return &v.HTTPVersion }),
				ptext("domain_name", func(v *H) **string { return &v.DomainName }),
				jsonb("tags", func(v *H) *[]string { return &v.Tags }),
			},
			timeCols(func(v *H) *lb.Times { return &v.Times }),
		)...),
		l7Policies: newKind("l7_policies", cat(
			[]column[Pol]{
				text("id", func(v *Pol) *string { return &v.ID }),
				text("project_id", func(v *Pol) *string { return &v.ProjectID }),
				text("listener_id", func(v *Pol) *string { return &v.ListenerID }),
				text("loadbalancer_id", func(v *Pol) *string { return &v.LoadBalancerID }),
				text("name", func(v *Pol) *string { return &v.Name }),
				text("description", func(v *Pol) *string { return &v.Description }),
				boolean("admin_state_up", func(v *Pol) *bool { return &v.AdminStateUp }),
			},
			statusCols(func(v *Pol) *lb.Status { return &v.Status }),
			[]column[Pol]{
				text("action", func(v *Pol) *string { return &v.Action }),
				integer("position", func(v *Pol) *int { return &v.Position }),
				ref("redirect_pool_id", func(v *Pol) *string { return &v.RedirectPoolID }),
				ptext("redirect_url", func(v *Pol) **string { return &v.RedirectURL }),
				ptext("redirect_prefix", func(v *Pol) **string { return &v.RedirectPrefix }),
				pint("redirect_http_code", func(v *Pol) **int { return &v.RedirectHTTPCode }),
				jsonb("tags", func(v *Pol) *[]string { return &v.Tags }),
			},
			timeCols(func(v *Pol) *lb.Times { return &v.Times }),
		)...),
		l7Rules: newKind("l7_rules", cat(
			[]column[R]{
				text("id", func(v *R) *string { return &v.ID }),
				text("project_id", func(v *R) *string { return &v.ProjectID }),
				text("l7policy_id", func(v *R) *string { return &v.L7PolicyID }),
				text("loadbalancer_id", func(v *R) *string { return &v.LoadBalancerID }),
				boolean("admin_state_up", func(v *R) *bool { return &v.AdminStateUp }),
			},
			statusCols(func(v *R) *lb.Status { return &v.Status }),
			[]column[R]{
				text("type", func(v *R) *string { return &v.Type }),
				text("compare_type", func(v *R) *string { return &v.CompareType }),
				ptext("key", func(v *R) **string { return &v.Key }),
				text("value", func(v *R) *string { return &v.Value }),
				boolean("invert", func(v *R) *bool { return &v.Invert }),
				jsonb("tags", func(v *R) *[]string { return &v.Tags }),
			},
			timeCols(func(v *R) *lb.Times { return &v.Times }),
		)...),
	}
}
