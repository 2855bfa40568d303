package lb

import (
	"regexp"
	"strconv"
	"strings"
)

// Opt is a request attribute that may be absent (Set false), sent as JSON
// null (Set, V nil) or sent with a value.
type Opt[T any] struct {
	Set bool
	V   *T
}

// Some returns a present attribute with value v.
func Some[T any](v T) Opt[T] { return Opt[T]{Set: true, V: &v} }

// Null returns an attribute sent as null.
func Null[T any]() Opt[T] { return Opt[T]{Set: true} }

func truthyStr(o Opt[string]) bool { return o.V != nil && *o.V != "" }
func truthyInt(o Opt[int]) bool    { return o.V != nil && *o.V != 0 }

// L7PolicyArgs are the action and redirect arguments of an L7 policy create
// or update request, as sent.
type L7PolicyArgs struct {
	Action         Opt[string]
	RedirectPoolID Opt[string]
	// RedirectPool is set when a fully populated create embeds a
	// redirect_pool object (resolved to an id by the caller).
	RedirectPool     bool
	RedirectURL      Opt[string]
	RedirectPrefix   Opt[string]
	RedirectHTTPCode Opt[int]
}

func invalidPolicyArgs(msg string) error {
	return Errorf("Invalid L7 Policy arguments: %s", msg)
}

// Sanitize makes the arguments consistent exactly as Octavia does
// (Octavia's sanitize_l7policy_api_args; docs/octavia-behaviour.md, "L7 policy actions and positions"): an action requires its
// argument; a redirect argument selects the action and nulls the others;
// redirect_url and redirect_prefix default the HTTP code to 302. On create
// an action is required.
func (a *L7PolicyArgs) Sanitize(create bool) error {
	null := Null[string]()
	if a.Action.Set {
		action := "None"
		if a.Action.V != nil {
			action = *a.Action.V
		}
		switch action {
		case ActionReject:
			a.RedirectURL, a.RedirectPoolID, a.RedirectPool = null, null, false
		case ActionRedirectToURL:
			if !truthyStr(a.RedirectURL) {
				return invalidPolicyArgs("redirect_url must not be None")
			}
			a.RedirectPoolID, a.RedirectPool = null, false
		case ActionRedirectToPool:
			if !truthyStr(a.RedirectPoolID) && !a.RedirectPool {
				return invalidPolicyArgs("redirect_pool_id or redirect_pool must not be None")
			}
			a.RedirectURL = null
		case ActionRedirectPrefix:
			if !truthyStr(a.RedirectPrefix) {
				return invalidPolicyArgs("redirect_prefix must not be None")
			}
		default:
			return Errorf("Invalid L7 Policy action specified: %s", action)
		}
	}
	if (truthyStr(a.RedirectPoolID) || a.RedirectPool) && (truthyStr(a.RedirectURL) || truthyStr(a.RedirectPrefix)) {
		return invalidPolicyArgs("Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time")
	}
	code302 := Some(302)
	switch {
	case truthyStr(a.RedirectPoolID):
		a.Action = Some(ActionRedirectToPool)
		a.RedirectURL, a.RedirectPool, a.RedirectPrefix, a.RedirectHTTPCode = null, false, null, Null[int]()
	case a.RedirectPool:
		a.Action = Some(ActionRedirectToPool)
		a.RedirectURL, a.RedirectPoolID, a.RedirectPrefix, a.RedirectHTTPCode = null, Opt[string]{}, null, Null[int]()
	}
	if truthyStr(a.RedirectURL) {
		a.Action = Some(ActionRedirectToURL)
		a.RedirectPoolID, a.RedirectPrefix, a.RedirectPool = null, null, false
		if !truthyInt(a.RedirectHTTPCode) {
			a.RedirectHTTPCode = code302
		}
	}
	if truthyStr(a.RedirectPrefix) {
		a.Action = Some(ActionRedirectPrefix)
		a.RedirectPoolID, a.RedirectURL, a.RedirectPool = null, null, false
		if !truthyInt(a.RedirectHTTPCode) {
			a.RedirectHTTPCode = code302
		}
	}
	if create && !a.Action.Set {
		return Errorf("Invalid L7 Policy action specified: None")
	}
	return nil
}

// ApplyCreate sets p's action and redirect fields from sanitized create
// arguments (absent arguments are null).
func (a *L7PolicyArgs) ApplyCreate(p *L7Policy) {
	p.Action = deref(a.Action.V)
	p.RedirectPoolID = deref(a.RedirectPoolID.V)
	p.RedirectURL = a.RedirectURL.V
	p.RedirectPrefix = a.RedirectPrefix.V
	p.RedirectHTTPCode = a.RedirectHTTPCode.V
}

// ApplyUpdate merges sanitized update arguments into p: the arguments sent
// replace the stored ones, and when the request names (or implies) an
// action, the arguments that do not belong to it are cleared, as Octavia's
// repository does.
func (a *L7PolicyArgs) ApplyUpdate(p *L7Policy) {
	if a.Action.Set {
		p.Action = deref(a.Action.V)
	}
	if a.RedirectPoolID.Set {
		p.RedirectPoolID = deref(a.RedirectPoolID.V)
	}
	if a.RedirectURL.Set {
		p.RedirectURL = a.RedirectURL.V
	}
	if a.RedirectPrefix.Set {
		p.RedirectPrefix = a.RedirectPrefix.V
	}
	if a.RedirectHTTPCode.Set {
		p.RedirectHTTPCode = a.RedirectHTTPCode.V
	}
	if !a.Action.Set {
		return
	}
	switch p.Action {
	case ActionReject:
		p.RedirectURL, p.RedirectPoolID, p.RedirectPrefix, p.RedirectHTTPCode = nil, "", nil, nil
	case ActionRedirectToURL:
		p.RedirectPoolID, p.RedirectPrefix = "", nil
	case ActionRedirectToPool:
		p.RedirectURL, p.RedirectPrefix, p.RedirectHTTPCode = nil, nil, nil
	case ActionRedirectPrefix:
		p.RedirectURL, p.RedirectPoolID = nil, ""
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// MovePolicy renumbers the policies of one listener densely from 1 after
// moving p to position (1-based; beyond the end appends). policies are the
// listener's live policies in position order, p among them or not (a new
// policy). It returns the policies whose position changed, p included.
func MovePolicy(policies []*L7Policy, p *L7Policy, position int) []*L7Policy {
	order := make([]*L7Policy, 0, len(policies)+1)
	for _, x := range policies {
		if x.ID != p.ID {
			order = append(order, x)
		}
	}
	i := position - 1
	if i < 0 {
		i = 0
	}
	if i > len(order) {
		i = len(order)
	}
	order = append(order[:i], append([]*L7Policy{p}, order[i:]...)...)
	return Renumber(order)
}

// Renumber sets positions 1..N in slice order and returns the policies
// whose position changed.
func Renumber(order []*L7Policy) []*L7Policy {
	var changed []*L7Policy
	for k, x := range order {
		if x.Position != k+1 {
			x.Position = k + 1
			changed = append(changed, x)
		}
	}
	return changed
}

// Patterns of L7 rule keys and values (Octavia's constants, anchored for
// Go: RE2's $ without (?m) matches only at the end of the text, like \Z).
var (
	// headerNameRE is HTTP_HEADER_NAME_REGEX; its "+-." is a range that
	// also admits ",".
	headerNameRE  = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'*+,\-.^_` + "`" + `|~]+$`)
	headerValueRE = regexp.MustCompile(`^[a-zA-Z0-9!"#$%&'()*+,\-./:;<=>?@\[\]^_` + "`" + `{|}~\\]+$`)
	quotedValueRE = regexp.MustCompile(`^"[a-zA-Z0-9 \t!"#$%&'()*+,\-./:;<=>?@\[\]^_` + "`" + `{|}~\\]*"$`)
	cookieValueRE = regexp.MustCompile(`^[a-zA-Z0-9!#$%&'()*+,\-./:<=>?@\[\]^_` + "`" + `{|}~]+$`)
	dnFieldRE     = regexp.MustCompile(`^[a-zA-Z][A-Za-z0-9-]*$`)
)

// ruleError is an L7 rule validation failure, answered 400 with Octavia's
// "Error parsing L7Rule: <reason>".
func ruleError(reason string) error {
	return Errorf("Error parsing L7Rule: %s", reason)
}

func invalidRule(msg string) error { return ruleError("Invalid L7 Rule: " + msg) }

// CompileRuleRegex compiles an L7 rule REGEX value with the data plane's
// dialect, Go's RE2 (package regexp): no back-references, no look-around;
// an invalid expression is refused at the API.
func CompileRuleRegex(value string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(value)
	if err != nil {
		return nil, ruleError("Unable to parse regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	return re, nil
}

// Validate checks an L7 rule as a whole (docs/octavia-behaviour.md, "L7 rules") in the order and with
// the messages of Octavia's validate.l7rule_data. REGEX values must compile
// as RE2 expressions (CompileRuleRegex).
func (r *L7Rule) Validate() error {
	key := deref(r.Key)
	regex := func() error { _, err := CompileRuleRegex(r.Value); return err }
	headerValue := func(what string) error {
		if headerValueRE.MatchString(r.Value) || quotedValueRE.MatchString(r.Value) {
			return nil
		}
		return ruleError("Invalid characters in " + what)
	}
	if r.Value == "" {
		return invalidRule("L7 rule type requires a value")
	}
	switch r.Type {
	case RuleHeader, RuleCookie:
		if key == "" {
			return invalidRule("L7 rule type requires a key")
		}
		if !headerNameRE.MatchString(key) {
			return ruleError("Invalid characters in key")
		}
		switch {
		case r.CompareType == CompareRegex:
			return regex()
		case !Contains(CompareTypes, r.CompareType):
			return invalidRule("invalid comparison type for rule type")
		case r.Type == RuleHeader:
			return headerValue("header value")
		case !cookieValueRE.MatchString(r.Value):
			return ruleError("Invalid characters in cookie value")
		}
		return nil
	case RuleHostName, RulePath:
		switch {
		case r.CompareType == CompareRegex:
			return regex()
		case Contains(CompareTypes, r.CompareType):
			return headerValue("comparison value")
		}
		return invalidRule("invalid comparison type for rule type")
	case RuleFileType:
		switch r.CompareType {
		case CompareRegex:
			return regex()
		case CompareEqualTo:
			return headerValue("comparison value")
		}
		return invalidRule("invalid comparison type for rule type")
	case RuleSSLConnHasCert:
		switch {
		case key != "":
			return invalidRule("L7rule type " + r.Type + ` does not use the "key" field.`)
		case strings.ToLower(r.Value) != "true":
			return invalidRule("L7rule value " + r.Value + " is not a boolean True string.")
		case r.CompareType != CompareEqualTo:
			return invalidRule("L7rule type " + r.Type + " only supports the EQUAL_TO compare type.")
		}
		return nil
	case RuleSSLVerifyResult:
		switch {
		case key != "":
			return invalidRule("L7rule type " + r.Type + ` does not use the "key" field.`)
		case !isDigits(r.Value):
			return invalidRule("L7rule type " + r.Type + " needs a int value, which is >= 0")
		case r.CompareType != CompareEqualTo:
			return invalidRule("L7rule type " + r.Type + " only supports the EQUAL_TO compare type.")
		}
		return nil
	case RuleSSLDNField:
		if r.CompareType == CompareRegex {
			if err := regex(); err != nil {
				return err
			}
		}
		switch {
		case key == "":
			return invalidRule("L7rule type " + r.Type + " needs to specify a key and a value.")
		case !dnFieldRE.MatchString(key):
			return invalidRule("Invalid L7rule distinguished name field.")
		}
		return nil
	}
	return invalidRule("invalid rule type")
}

// isDigits reports whether s is a non-empty run of ASCII digits that fits
// an int (Python's str.isdigit and int() for the values that matter).
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

// UsesKey reports whether rules of type t keep a key: HOST_NAME, PATH and
// FILE_TYPE rules have theirs cleared on update.
func UsesKey(t string) bool {
	return t != RuleHostName && t != RulePath && t != RuleFileType
}
