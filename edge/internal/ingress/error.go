package ingress

import (
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/edgeway/edgeway/edge/internal/wire"
)

// Error is a client fault found while decoding a request. Every dialect
// returns it, and the server renders it as that dialect's error body.
type Error struct {
	// Status is the HTTP status to answer with (400).
	Status int
	// Param names the offending field in the dialect's path form
	// ("messages[2].content", "messages.2.content"), or is empty when the
	// fault is not one field's.
	Param string
	// Message is the whole text the client reads.
	Message string
	// Code is the dialect's error code, or empty for dialects without
	// codes.
	Code string
}

func (e *Error) Error() string { return e.Message }

// NewError returns a 400 Error whose message is msg as it is.
func NewError(param, code, msg string) *Error {
	return &Error{Status: 400, Param: param, Message: msg, Code: code}
}

// Fault is the kind of a field error, for dialects that name it with a
// code.
type Fault uint8

// The faults a Dialect maps onto codes.
const (
	FaultSyntax      Fault = iota // the body is not JSON (or not UTF-8)
	FaultType                     // a value of the wrong JSON type
	FaultValue                    // a value outside what is allowed
	FaultMissing                  // a required field is absent or empty
	FaultUnsupported              // valid, but not served by edgeway
	numFaults
)

// Kind names the JSON types a type error can want, indexing Dialect.Words.
type Kind uint8

// The kinds of value the typed getters read.
const (
	KindString Kind = iota
	KindBool
	KindNumber
	KindInt
	KindObject
	KindArray
	numKinds
)

// Fractions is what an integer field does with a number written with a
// fraction or an exponent.
type Fractions uint8

const (
	// RefuseFractions answers a type error.
	RefuseFractions Fractions = iota
	// IntegralFractions accepts an integral value ("1024.0") up to 2^53
	// and refuses any other with Dialect.NotIntegral.
	IntegralFractions
	// TruncateFractions drops the fraction, as a decoder reading through
	// float64 does.
	TruncateFractions
)

// Dialect is how one client dialect words and codes its field errors.
type Dialect struct {
	// DottedIndex prints an element index as a path segment of its own
	// ("messages.2") rather than in brackets ("messages[2]").
	DottedIndex bool
	// Join separates a field's path from the message about it (" " or
	// ": ").
	Join string
	// MustBe starts a type error's message ("must be "), before the
	// wanted type's words.
	MustBe string
	// Words are the default words for each Kind a type error wants.
	Words [numKinds]string
	// Required is the message of a missing field.
	Required string
	// OutOfRange is the message of an integer that does not fit.
	OutOfRange string
	// Fractions is how integer fields treat fractions; NotIntegral is
	// the message for IntegralFractions.
	Fractions   Fractions
	NotIntegral string
	// AtMost starts the message of a list that is too long, before its
	// bound and unit ("may hold at most " 4 " sequences").
	AtMost string
	// NotObject is the message of a body that is JSON but not an object.
	NotObject string
	// SyntaxPrefix starts the message of a body that is not JSON.
	SyntaxPrefix string
	// Codes are the error codes of each Fault; empty when the dialect
	// has none.
	Codes [numFaults]string
}

// Field returns the error for param: its path, the dialect's Join and
// msg; msg alone when param is empty.
func (l *Dialect) Field(param string, f Fault, msg string) *Error {
	if param != "" {
		msg = param + l.Join + msg
	}
	return NewError(param, l.Codes[f], msg)
}

// Wrap turns a syntax error from the reader into an Error and passes
// every other error through.
func (l *Dialect) Wrap(err error) error {
	if err == nil {
		// errors.As would cost an allocation on every good request.
		return nil
	}
	var se *wire.SyntaxError
	if errors.As(err, &se) {
		return NewError("", l.Codes[FaultSyntax], l.SyntaxPrefix+se.Error())
	}
	return err
}

// CheckUTF8 refuses a body that is not valid UTF-8, naming the offset:
// encoding/json would silently replace such bytes, and a gateway should
// not forward text its client did not mean.
func (l *Dialect) CheckUTF8(body []byte) error {
	if utf8.Valid(body) {
		return nil
	}
	i := 0
	for i < len(body) {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	return NewError("", l.Codes[FaultSyntax], "request body is not valid UTF-8 (byte offset "+strconv.Itoa(i)+")")
}

// Plain is the wording OpenAI's and Ollama's errors share, path first:
// "messages[2].content must be a string", "model is required". Their
// dialects start from it and add their codes.
func Plain() Dialect {
	return Dialect{
		Join:   " ",
		MustBe: "must be ",
		Words: [numKinds]string{
			KindString: "a string", KindBool: "a boolean", KindNumber: "a number",
			KindInt: "an integer", KindObject: "an object", KindArray: "an array",
		},
		Required:   "is required",
		OutOfRange: "is out of range",
		AtMost:     "may hold at most ",
		NotObject:  "request body must be a JSON object",
	}
}

// Error types OpenAI and Anthropic both use.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeNotFound       = "not_found_error"
	TypeRateLimit      = "rate_limit_error"
	TypeAPI            = "api_error"
	TypeOverloaded     = "overloaded_error"
)

// ErrorType returns the error type OpenAI and Anthropic both pair with an
// HTTP status: 401 authentication_error, 403 permission_error, 404
// not_found_error, 429 rate_limit_error, 503 and 529 overloaded_error,
// other 5xx api_error and the rest invalid_request_error.
func ErrorType(status int) string {
	switch {
	case status == 401:
		return TypeAuthentication
	case status == 403:
		return TypePermission
	case status == 404:
		return TypeNotFound
	case status == 429:
		return TypeRateLimit
	case status == 503 || status == 529:
		return TypeOverloaded
	case status >= 500:
		return TypeAPI
	}
	return TypeInvalidRequest
}
