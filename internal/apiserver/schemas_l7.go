package apiserver

import "github.com/fulcrumlb/fulcrum/internal/lb"

// Request types and list columns of L7 policies and rules.

// noCRLF is the pattern Octavia puts on L7 rule keys and values of
// standalone requests.
const noCRLF = `^[^\r\n]*$`

// ruleForm is one of the three L7 rule request types.
type ruleForm int

const (
	rulePost     ruleForm = iota // POST /rules: project_id; key and value without CR/LF
	rulePut                      // PUT: nothing mandatory
	ruleEmbedded                 // inside a policy of a create
)

// ruleSchema is the L7 rule request type of form f.
func ruleSchema(f ruleForm) *schema {
	typ := aEnum("type", lb.L7RuleTypes...)
	cmp := aEnum("compare_type", lb.CompareTypes...)
	key, value := aStr("key", 255), aStr("value", 255)
	if f != ruleEmbedded {
		for _, a := range []*attr{&key, &value} {
			a.check = func(s string) bool { return !containsCRLF(s) }
			a.patternText = noCRLF
		}
	}
	if f == rulePut {
		return newSchema(typ, cmp, key, value, aBool("invert"), aBool("admin_state_up"), aStrList("tags", lb.MaxNameLen))
	}
	attrs := []attr{must(typ), must(cmp), key, must(value), aBool("invert"), aBool("admin_state_up")}
	if f == rulePost {
		attrs = append(attrs, aStr("project_id", 36))
	}
	return newSchema(append(attrs, aStrList("tags", lb.MaxNameLen))...)
}

func containsCRLF(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return true
		}
	}
	return false
}

func redirectCodes() attr {
	codes := make([]int64, len(lb.RedirectHTTPCodes))
	for i, c := range lb.RedirectHTTPCodes {
		codes[i] = int64(c)
	}
	return attr{name: "redirect_http_code", kind: kIntEnum, ints: codes}
}

// addL7 adds the L7 policy and rule types.
func (s *schemas) addL7() {
	name, desc := aStr("name", lb.MaxNameLen), aStr("description", lb.MaxNameLen)
	tags := aStrList("tags", lb.MaxNameLen)
	position := aInt("position", 1, lb.MaxPosition)
	policyPost := newSchema(name, desc, aBool("admin_state_up"), aStr("project_id", 36),
		must(aEnum("action", lb.L7Actions...)), aUUID("redirect_pool_id"), aURL("redirect_url"), aURL("redirect_prefix"),
		position, must(aUUID("listener_id")), aObjList("rules", ruleSchema(ruleEmbedded)), tags, redirectCodes())
	policyPut := newSchema(name, desc, aBool("admin_state_up"), aEnum("action", lb.L7Actions...),
		aUUID("redirect_pool_id"), aURL("redirect_url"), aURL("redirect_prefix"), position, tags, redirectCodes())
	s.l7policyPost = body{arg: "l7policy_", wrapper: "l7policy", inner: policyPost}
	s.l7policyPut = body{arg: "l7policy_", wrapper: "l7policy", inner: policyPut}
	s.rulePost = body{arg: "rule_", wrapper: "rule", inner: ruleSchema(rulePost)}
	s.rulePut = body{arg: "l7rule_", wrapper: "rule", inner: ruleSchema(rulePut)}
	s.l7policyColumns = columnSet("id project_id listener_id name description admin_state_up provisioning_status operating_status " +
		"action position redirect_pool_id redirect_url redirect_prefix redirect_http_code created_at updated_at")
	s.ruleColumns = columnSet("id project_id l7policy_id admin_state_up provisioning_status operating_status " +
		"type compare_type key value invert created_at updated_at")
}
