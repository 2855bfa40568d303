package lb

import "testing"

// TestProfileMetadataMeaning: the keys of other drivers that have a fulcrum
// meaning are read as fulcrum's own — Octavia's compute_zone as the agent
// zone, the Avi driver's se_group_ref as the agent group — and fulcrum's
// own keys win when both are set.
func TestProfileMetadataMeaning(t *testing.T) {
	for _, tt := range []struct {
		name, data, group string
	}{
		{"agent_group", `{"agent_group": "edge"}`, "edge"},
		{"avi name query", `{"se_group_ref": "/api/serviceenginegroup?name=Default-Group"}`, "Default-Group"},
		{"avi name query among others", `{"se_group_ref": "https://avi.example/api/serviceenginegroup/?tenant=admin&name=edge-se"}`, "edge-se"},
		{"avi uuid with fragment", `{"se_group_ref": "https://avi.example/api/serviceenginegroup/serviceenginegroup-7e1a#Gold"}`, "Gold"},
		{"avi path", `{"se_group_ref": "/api/serviceenginegroup/silver/"}`, "silver"},
		{"plain name", `{"se_group_ref": "bronze"}`, "bronze"},
		{"agent_group wins", `{"agent_group": "edge", "se_group_ref": "/api/serviceenginegroup?name=Default-Group"}`, "edge"},
		{"none", `{"compute_flavor": "m1"}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseFlavorMetadata(tt.data).AgentGroup; got != tt.group {
				t.Errorf("ParseFlavorMetadata(%s).AgentGroup = %q, want %q", tt.data, got, tt.group)
			}
		})
	}
	if got := ParseFlavorMetadata(`{"loadbalancer_topology": "ACTIVE_STANDBY", "compute_flavor": "m1"}`).Topology; got != TopologyActiveStandby {
		t.Errorf("Octavia's topology key read as %q", got)
	}
	for data, zone := range map[string]string{
		`{"compute_zone": "nova-az1", "management_network": "x", "valid_vip_networks": ["n"]}`: "nova-az1",
		`{"agent_zone": "rack1", "compute_zone": "nova-az1"}`:                                  "rack1",
		`{"volume_zone": "cinder"}`: "",
	} {
		if got := ParseAvailabilityZoneMetadata(data).AgentZone; got != zone {
			t.Errorf("ParseAvailabilityZoneMetadata(%s).AgentZone = %q, want %q", data, got, zone)
		}
	}
}

// TestOctaviaSchemas: Octavia's keys with Octavia's JSON types and
// jsonschema's messages.
func TestOctaviaSchemas(t *testing.T) {
	for _, tt := range []struct {
		schema MetadataSchema
		data   string
		err    string
	}{
		{OctaviaFlavorSchema(), `{"sriov_vip": true, "allow_member_sriov": false, "compute_flavor": "f", "amp_image_tag": "t", "loadbalancer_topology": "SINGLE"}`, ""},
		{OctaviaFlavorSchema(), `{"sriov_vip": 1}`, "sriov_vip 1 is not of type 'boolean'"},
		{OctaviaAvailabilityZoneSchema(), `{"valid_vip_networks": [], "volume_zone": "v", "management_network": "m", "compute_zone": "c"}`, ""},
		{OctaviaAvailabilityZoneSchema(), `{"valid_vip_networks": {"a": 1}}`, "valid_vip_networks {'a': 1} is not of type 'array'"},
		{OctaviaAvailabilityZoneSchema(), `{"agent_zone": "x"}`, "Additional properties are not allowed ('agent_zone' was unexpected)"},
		{OctaviaAvailabilityZoneSchema().Union(AvailabilityZoneSchema()), `{"agent_zone": "x", "compute_zone": "y"}`, ""},
	} {
		v, err := ParseMetadata(tt.data, "data")
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if err := tt.schema.Validate(v); err != nil {
			got = err.Error()
		}
		if got != tt.err {
			t.Errorf("%s: %q, want %q", tt.data, got, tt.err)
		}
	}
}
