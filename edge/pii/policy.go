package pii

// Action is what a key's PII policy does with a prompt that holds
// personal data. A prompt without any is never affected.
type Action string

// Actions, from the least strict to the strictest.
const (
	// Allow sends the prompt as it is (its findings are still counted).
	Allow Action = "allow"
	// RedactForCloud replaces the findings by placeholders on the way to a
	// cloud provider and restores them in its answer; a local runtime gets
	// the prompt as it is.
	RedactForCloud Action = "redact-for-cloud"
	// LocalOnly lets only local runtimes serve the prompt; when none can,
	// the request fails rather than reach the cloud.
	LocalOnly Action = "local-only"
	// Block refuses the request.
	Block Action = "block"
)

// rank orders the actions by strictness; 0 is unset.
func (a Action) rank() int {
	switch a {
	case Allow:
		return 1
	case RedactForCloud:
		return 2
	case LocalOnly:
		return 3
	case Block:
		return 4
	}
	return 0
}

// Valid reports whether a is an action or empty (no policy).
func (a Action) Valid() bool { return a == "" || a.rank() > 0 }

// Stricter returns the stricter of a and b, so a key cannot loosen its
// team's policy nor a team its key's. Empty means no policy.
func Stricter(a, b Action) Action {
	if b.rank() > a.rank() {
		return b
	}
	return a
}
