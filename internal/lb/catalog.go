package lb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// NilUUID is the id Octavia reserves as an internal placeholder: flavors,
// profiles and availability zones never have it (always 404, hidden from
// lists).
const NilUUID = "00000000-0000-0000-0000-000000000000"

// FlavorProfile is an admin-defined provider configuration: a provider name
// and its metadata (a JSON object, kept as sent).
type FlavorProfile struct {
	ID           string
	Name         string
	ProviderName string
	FlavorData   string
}

// Flavor is what users pick at load balancer creation: a named, enabled or
// disabled reference to a flavor profile.
type Flavor struct {
	ID              string
	Name            string
	Description     string
	Enabled         bool
	FlavorProfileID string
}

// AvailabilityZoneProfile is an admin-defined provider placement
// configuration (a JSON object, kept as sent).
type AvailabilityZoneProfile struct {
	ID                   string
	Name                 string
	ProviderName         string
	AvailabilityZoneData string
}

// AvailabilityZone is a named placement users pick at load balancer
// creation; the name is its key.
type AvailabilityZone struct {
	Name                      string
	Description               string
	Enabled                   bool
	AvailabilityZoneProfileID string
}

// Load balancer topologies (flavor metadata loadbalancer_topology).
const (
	TopologySingle        = "SINGLE"
	TopologyActiveStandby = "ACTIVE_STANDBY"
)

// Data-plane engines (flavor metadata engine).
const (
	EngineNative  = "native"
	EngineHAProxy = "haproxy"
)

// Metadata keys of fulcrum's flavor and availability zone profiles.
const (
	FlavorTopology   = "loadbalancer_topology"
	FlavorEngine     = "engine"
	FlavorAgentGroup = "agent_group"
	// FlavorSEGroupRef is the Avi driver's service engine group; fulcrum
	// reads it as agent_group when that is absent (AgentGroupOfSEGroupRef).
	FlavorSEGroupRef = "se_group_ref"
	// ACTIVE_STANDBY's VRRP settings (docs/active-standby.md): the advert interval in
	// milliseconds and the priorities of the member meant to be MASTER and of the other.
	FlavorVRRPAdvertIntMS    = "vrrp_advert_int_ms"
	FlavorVRRPPriorityMaster = "vrrp_priority_master"
	FlavorVRRPPriorityBackup = "vrrp_priority_backup"
	AZAgentZone              = "agent_zone"
	// AZComputeZone is Octavia's name for the zone; fulcrum reads it as an
	// alias of agent_zone so Octavia scripts keep working.
	AZComputeZone = "compute_zone"
)

// Metadata keys of Octavia's amphora driver that fulcrum accepts under the
// provider names amphora and octavia, stores and shows, without effect:
// there is no VM, image, volume or management network.
const (
	FlavorComputeFlavor      = "compute_flavor"
	FlavorAmpImageTag        = "amp_image_tag"
	FlavorSRIOVVIP           = "sriov_vip"
	FlavorAllowMemberSRIOV   = "allow_member_sriov"
	AZVolumeZone             = "volume_zone"
	AZManagementNetwork      = "management_network"
	AZValidVIPNetworks       = "valid_vip_networks"
	octaviaTopologyDesc      = "The load balancer topology. One of: SINGLE - One amphora per load balancer. ACTIVE_STANDBY - Two amphora per load balancer."
	octaviaValidVIPNetsDesc  = "List of network IDs that are allowed for VIP use. This overrides/replaces the list of allowed networks configured in `octavia.conf`."
	octaviaSRIOVVIPDesc      = "When true, the VIP port will be created using an SR-IOV VF port."
	octaviaAllowMemberSRIOVD = "When true, users can request a member port be SR-IOV enabled at member creation time."
)

// UnsupportedOptionError is a provider refusing an option (Octavia's
// UnsupportedOptionError): the API answers 501 "Provider '<p>' does not
// support a requested option: <Msg>".
type UnsupportedOptionError struct {
	Msg string
}

func (e *UnsupportedOptionError) Error() string { return e.Msg }

// Defaults of the VRRP flavor keys: a BACKUP takes over from a silent MASTER after
// 3 × 200 ms plus skew, about 0.73 s (the 1 s target); priorities are Octavia's. A member
// being promoted by a planned failover gets VRRPPromotePriority, above any MASTER's.
const (
	DefaultVRRPAdvertIntMS    = 200
	DefaultVRRPPriorityMaster = 100
	DefaultVRRPPriorityBackup = 90
	VRRPPromotePriority       = 254
)

// Capability is one metadata key a provider accepts in a profile.
type Capability struct {
	Name        string
	Description string
	// Type is the JSON type of the value ("string", "boolean", "array" or
	// "integer"); Enum, when set, lists the accepted values of a string.
	Type string
	Enum []string
	// Check, for an integer, returns the rule a value breaks ("" if none): a 400 naming
	// the key, unlike the type and enum checks, which are Octavia's 501.
	Check func(v int64) string
}

// MetadataSchema is the set of keys a provider accepts in flavor or
// availability zone profile data, validated like Octavia's JSON schemas
// (no additional properties, typed values, enums).
type MetadataSchema []Capability

// FlavorSchema returns the flavor metadata of fulcrum's providers; engines
// are the values `engine` accepts for the provider.
func FlavorSchema(engines ...string) MetadataSchema {
	return MetadataSchema{
		{Name: FlavorTopology, Type: "string", Enum: []string{TopologyActiveStandby, TopologySingle},
			Description: "The load balancer topology. One of: SINGLE - One amphora per load balancer. ACTIVE_STANDBY - Two amphora per load balancer."},
		{Name: FlavorEngine, Type: "string", Enum: engines,
			Description: "The data-plane engine that runs the load balancer. One of: " + strings.Join(engines, ", ") + "."},
		{Name: FlavorAgentGroup, Type: "string",
			Description: "The agent group (service engine group) whose agents run the load balancer."},
		{Name: FlavorSEGroupRef, Type: "string",
			Description: "The Avi driver's service engine group reference, read as agent_group when that is absent: the name after ?name= or #, else the last path element."},
		{Name: FlavorVRRPAdvertIntMS, Type: "integer", Check: checkAdvertInt,
			Description: fmt.Sprintf("ACTIVE_STANDBY: how often the MASTER sends VRRP adverts, in milliseconds (a multiple of 10 from 10 to 40950; default %d). A BACKUP takes over from a silent MASTER after three intervals and a skew.", DefaultVRRPAdvertIntMS)},
		{Name: FlavorVRRPPriorityMaster, Type: "integer", Check: checkPriority,
			Description: fmt.Sprintf("ACTIVE_STANDBY: the VRRP priority of the amphora meant to be MASTER (1 to 253, above the BACKUP's; default %d).", DefaultVRRPPriorityMaster)},
		{Name: FlavorVRRPPriorityBackup, Type: "integer", Check: checkPriority,
			Description: fmt.Sprintf("ACTIVE_STANDBY: the VRRP priority of the other amphora (1 to 253, below the MASTER's; default %d).", DefaultVRRPPriorityBackup)},
	}
}

// OctaviaFlavorSchema is the flavor metadata of Octavia's amphora driver,
// keys, order and texts as Octavia lists them. loadbalancer_topology has
// its meaning; the other keys are stored and shown without effect.
func OctaviaFlavorSchema() MetadataSchema {
	return MetadataSchema{
		{Name: FlavorTopology, Type: "string", Enum: []string{TopologyActiveStandby, TopologySingle}, Description: octaviaTopologyDesc},
		{Name: FlavorComputeFlavor, Type: "string", Description: "The compute driver flavor ID."},
		{Name: FlavorAmpImageTag, Type: "string", Description: "The amphora image tag."},
		{Name: FlavorSRIOVVIP, Type: "boolean", Description: octaviaSRIOVVIPDesc},
		{Name: FlavorAllowMemberSRIOV, Type: "boolean", Description: octaviaAllowMemberSRIOVD},
	}
}

// OctaviaAvailabilityZoneSchema is the availability zone metadata of
// Octavia's amphora driver, as Octavia lists it: compute_zone is the agent
// zone; the other keys are stored and shown without effect.
func OctaviaAvailabilityZoneSchema() MetadataSchema {
	return MetadataSchema{
		{Name: AZComputeZone, Type: "string", Description: "The compute availability zone."},
		{Name: AZVolumeZone, Type: "string", Description: "The volume availability zone."},
		{Name: AZManagementNetwork, Type: "string", Description: "The management network ID for the amphora."},
		{Name: AZValidVIPNetworks, Type: "array", Description: octaviaValidVIPNetsDesc},
	}
}

// Union is s followed by the capabilities of more whose names s lacks.
func (s MetadataSchema) Union(more MetadataSchema) MetadataSchema {
	out := append(MetadataSchema(nil), s...)
	for _, c := range more {
		if out.find(c.Name) == nil {
			out = append(out, c)
		}
	}
	return out
}

// IsOctaviaProvider reports whether name is one of the names Octavia gives
// its amphora driver (amphora, octavia): fulcrum accepts them as aliases
// and validates their profiles with Octavia's metadata schemas.
func IsOctaviaProvider(name string) bool { return name == "amphora" || name == "octavia" }

func checkAdvertInt(v int64) string {
	if v < 10 || v > 40950 || v%10 != 0 {
		return "must be a multiple of 10 from 10 to 40950 (milliseconds; VRRP counts centiseconds)"
	}
	return ""
}

func checkPriority(v int64) string {
	if v < 1 || v > VRRPPromotePriority-1 {
		return fmt.Sprintf("must be from 1 to %d (%d is what a planned failover promotes a member to)", VRRPPromotePriority-1, VRRPPromotePriority)
	}
	return ""
}

// AvailabilityZoneSchema returns the availability zone metadata of
// fulcrum's providers.
func AvailabilityZoneSchema() MetadataSchema {
	return MetadataSchema{
		{Name: AZAgentZone, Type: "string", Description: "The agent zone: only agents started with this zone serve the load balancer."},
		{Name: AZComputeZone, Type: "string", Description: "The compute availability zone (Octavia's name; an alias of agent_zone)."},
	}
}

// ParseMetadata decodes profile data: it must be a JSON value (else the
// InvalidOption 400 "<data> is not a valid option for <option>"); the value
// is returned with numbers kept as json.Number.
func ParseMetadata(data, option string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, InvalidOption(data, option)
	}
	if dec.More() {
		return nil, InvalidOption(data, option)
	}
	return v, nil
}

// Validate checks decoded profile data against the schema with the messages
// of Python's jsonschema, as Octavia's drivers report them.
func (s MetadataSchema) Validate(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return &UnsupportedOptionError{Msg: pyRepr(v) + " is not of type 'object'"}
	}
	var extra []string
	for k := range m {
		if s.find(k) == nil {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		q := make([]string, len(extra))
		for i, k := range extra {
			q[i] = pyRepr(k)
		}
		verb := "was"
		if len(extra) > 1 {
			verb = "were"
		}
		return &UnsupportedOptionError{Msg: fmt.Sprintf("Additional properties are not allowed (%s %s unexpected)", strings.Join(q, ", "), verb)}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := s.find(k)
		val := m[k]
		ok := true
		switch c.Type {
		case "integer":
			n, isInt := jsonInt(val)
			if !isInt {
				return &ValidationError{Msg: fmt.Sprintf("%s %s must be an integer", k, pyRepr(val))}
			}
			if rule := c.Check(n); rule != "" {
				return &ValidationError{Msg: fmt.Sprintf("%s %d %s", k, n, rule)}
			}
			continue
		case "string":
			_, ok = val.(string)
		case "boolean":
			_, ok = val.(bool)
		case "array":
			_, ok = val.([]any)
		}
		if !ok {
			return &UnsupportedOptionError{Msg: fmt.Sprintf("%s %s is not of type '%s'", k, pyRepr(val), c.Type)}
		}
		if len(c.Enum) > 0 && !Contains(c.Enum, val.(string)) {
			q := make([]string, len(c.Enum))
			for i, e := range c.Enum {
				q[i] = pyRepr(e)
			}
			return &UnsupportedOptionError{Msg: fmt.Sprintf("%s %s is not one of [%s]", k, pyRepr(val), strings.Join(q, ", "))}
		}
	}
	if s.find(FlavorVRRPPriorityMaster) != nil {
		master, backup := int64(DefaultVRRPPriorityMaster), int64(DefaultVRRPPriorityBackup)
		mShown, bShown := " (the default)", " (the default)"
		if n, ok := jsonInt(m[FlavorVRRPPriorityMaster]); ok {
			master, mShown = n, ""
		}
		if n, ok := jsonInt(m[FlavorVRRPPriorityBackup]); ok {
			backup, bShown = n, ""
		}
		if master <= backup {
			return &ValidationError{Msg: fmt.Sprintf("%s %d%s must be above %s %d%s", FlavorVRRPPriorityMaster, master, mShown, FlavorVRRPPriorityBackup, backup, bShown)}
		}
	}
	return nil
}

// jsonInt reads a decoded JSON integer (json.Number without fraction or exponent).
func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

func (s MetadataSchema) find(name string) *Capability {
	for i := range s {
		if s[i].Name == name {
			return &s[i]
		}
	}
	return nil
}

// FlavorMetadata is the parsed data of a fulcrum flavor profile ("" =
// unset).
type FlavorMetadata struct {
	Topology   string
	Engine     string
	AgentGroup string
	// ComputeFlavor is Octavia's compute_flavor, shown on amphorae and
	// otherwise without effect.
	ComputeFlavor string
	// VRRP settings of ACTIVE_STANDBY; 0 = unset (the defaults).
	VRRPAdvertIntMS, VRRPPriorityMaster, VRRPPriorityBackup int
}

// AvailabilityZoneMetadata is the parsed data of a fulcrum availability
// zone profile.
type AvailabilityZoneMetadata struct {
	// AgentZone is agent_zone, or compute_zone when agent_zone is absent.
	AgentZone string
}

func stringKeys(data string) map[string]string {
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// ParseFlavorMetadata reads flavor profile data that passed validation:
// agent_group, or the group an Avi se_group_ref names when it is absent.
func ParseFlavorMetadata(data string) FlavorMetadata {
	m := stringKeys(data)
	g := m[FlavorAgentGroup]
	if g == "" && m[FlavorSEGroupRef] != "" {
		g = AgentGroupOfSEGroupRef(m[FlavorSEGroupRef])
	}
	md := FlavorMetadata{Topology: m[FlavorTopology], Engine: m[FlavorEngine], AgentGroup: g, ComputeFlavor: m[FlavorComputeFlavor]}
	var raw map[string]json.Number
	dec := json.NewDecoder(strings.NewReader(data))
	dec.UseNumber()
	var all map[string]any
	if dec.Decode(&all) == nil {
		raw = map[string]json.Number{}
		for k, v := range all {
			if n, ok := v.(json.Number); ok {
				raw[k] = n
			}
		}
	}
	get := func(k string) int {
		if n, err := strconv.Atoi(string(raw[k])); err == nil {
			return n
		}
		return 0
	}
	md.VRRPAdvertIntMS, md.VRRPPriorityMaster, md.VRRPPriorityBackup = get(FlavorVRRPAdvertIntMS), get(FlavorVRRPPriorityMaster), get(FlavorVRRPPriorityBackup)
	return md
}

// AgentGroupOfSEGroupRef is the agent group an Avi service engine group
// reference names: the value of its name= query parameter
// (/api/serviceenginegroup?name=Default-Group), else what follows a #
// (/api/serviceenginegroup/serviceenginegroup-1f2e#Default-Group), else
// its last path element; a plain name is itself.
func AgentGroupOfSEGroupRef(ref string) string {
	if _, q, ok := strings.Cut(ref, "?"); ok {
		for _, kv := range strings.Split(q, "&") {
			if v, ok := strings.CutPrefix(kv, "name="); ok {
				return v
			}
		}
	}
	if _, frag, ok := strings.Cut(ref, "#"); ok && frag != "" {
		return frag
	}
	ref = strings.TrimRight(ref, "/")
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// ParseAvailabilityZoneMetadata reads availability zone profile data that
// passed validation.
func ParseAvailabilityZoneMetadata(data string) AvailabilityZoneMetadata {
	m := stringKeys(data)
	z := m[AZAgentZone]
	if z == "" {
		z = m[AZComputeZone]
	}
	return AvailabilityZoneMetadata{AgentZone: z}
}

// pyRepr renders a decoded JSON value as Python's repr() does.
func pyRepr(v any) string {
	var b bytes.Buffer
	writePyRepr(&b, v)
	return b.String()
}

func writePyRepr(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case json.Number:
		s := string(v)
		if strings.ContainsAny(s, ".eE") {
			f, _ := strconv.ParseFloat(s, 64)
			s = strconv.FormatFloat(f, 'g', -1, 64)
			if !strings.ContainsAny(s, ".e") {
				s += ".0"
			}
		}
		b.WriteString(s)
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case string:
		q := byte('\'')
		if strings.ContainsRune(v, '\'') && !strings.ContainsRune(v, '"') {
			q = '"'
		}
		b.WriteByte(q)
		for _, r := range v {
			switch {
			case r == '\\':
				b.WriteString(`\\`)
			case r == rune(q):
				b.WriteByte('\\')
				b.WriteByte(q)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\t':
				b.WriteString(`\t`)
			case r == '\r':
				b.WriteString(`\r`)
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(b, `\x%02x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte(q)
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyRepr(b, x)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writePyRepr(b, k)
			b.WriteString(": ")
			writePyRepr(b, v[k])
		}
		b.WriteByte('}')
	default:
		fmt.Fprint(b, v)
	}
}
