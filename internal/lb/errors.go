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
