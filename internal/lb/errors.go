package lb

import (
	"fmt"
	"strings"
)

// ValidationError is a rule violation found by domain validation. Its message is the
// complete, user-safe Octavia faultstring; the API answers it with 400.
type ValidationError struct {
	Msg string
}

func (e *ValidationError) Error() string { return e.Msg }

// Invalid returns a "Validation failure: <detail>" error.
func Invalid(format string, args ...any) error {
	return &ValidationError{Msg: "Validation failure: " + fmt.Sprintf(format, args...)}
}

// InvalidOption returns a "<value> is not a valid option for <option>" error.
func InvalidOption(value, option string) error {
	return &ValidationError{Msg: fmt.Sprintf("%s is not a valid option for %s", value, option)}
}

// InvalidField returns Octavia's type-level error for one field:
// "Invalid input for field/attribute <field>. Value: '<value>'. <reason>".
func InvalidField(field, value, reason string) error {
	return &ValidationError{Msg: fmt.Sprintf("Invalid input for field/attribute %s. Value: '%s'. %s", field, value, reason)}
}

// NotAllowed returns "The selected <option> is not allowed in this deployment: <value>".
func NotAllowed(option, value string) error {
	return &ValidationError{Msg: fmt.Sprintf("The selected %s is not allowed in this deployment: %s", option, value)}
}

// Errorf returns an Error with a free-form message.
func Errorf(format string, args ...any) error {
	return &ValidationError{Msg: fmt.Sprintf(format, args...)}
}

// pyList renders strings the way Python prints a list of str: ['a', 'b'].
func pyList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = "'" + s + "'"
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ConflictError is a request that conflicts with the state of something
// else (a VIP address already in use); the API answers 409 with Msg.
type ConflictError struct {
	Msg string
}

func (e *ConflictError) Error() string { return e.Msg }

// NotFoundError is an object that does not exist (or is hidden from the
// caller); the API answers 404 with "<Resource> <id> not found.".
type NotFoundError struct {
	// Resource is the display name Octavia uses in the message
	// (NameLoadBalancer, NameL7RulePolicy, …).
	Resource string
	ID       string
}

func (e *NotFoundError) Error() string { return e.Resource + " " + e.ID + " not found." }

// NotFound returns the not-found error of one object.
func NotFound(resource, id string) error { return &NotFoundError{Resource: resource, ID: id} }

// Display names of the load-balancer objects in Octavia's messages.
const (
	NameLoadBalancer  = "Load Balancer"
	NameListener      = "Listener"
	NamePool          = "Pool"
	NameMember        = "Member"
	NameHealthMonitor = "Health Monitor"
	NameL7Policy      = "L7 Policy"
	NameL7Rule        = "L7 Rule"
	// NameL7RulePolicy is how Octavia names a missing policy in the path of
	// its rules (/l7policies/{id}/rules).
	NameL7RulePolicy = "L7Policy"
	NameAmphora      = "Amphora"
)

// Conflict returns a ConflictError with a formatted message.
func Conflict(format string, args ...any) error {
	return &ConflictError{Msg: fmt.Sprintf(format, args...)}
}

// UnsupportedError is an option the load balancer's provider cannot carry;
// the API answers 501, as Octavia does when a provider driver refuses an
// option.
type UnsupportedError struct {
	Provider string
	Msg      string
}

func (e *UnsupportedError) Error() string {
	return "Provider '" + e.Provider + "' does not support a requested option: " + e.Msg
}

// Unsupported returns the UnsupportedError of provider.
func Unsupported(provider, msg string) error { return &UnsupportedError{Provider: provider, Msg: msg} }
