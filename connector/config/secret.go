package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Secret holds a credential. In YAML it is a literal (usually "${ENV_VAR}")
// or "file:/path" to read it from a file (Docker and Kubernetes secrets).
// It prints as [redacted] everywhere: fmt, slog, JSON, YAML.
type Secret struct {
	value string
	from  string // "literal", "env" or the file path, for error messages
}

// NewSecret wraps a value (tests and the embedded default).
func NewSecret(v string) Secret { return Secret{value: v, from: "literal"} }

// Value is the credential itself: pass it only to the API client.
func (s Secret) Value() string { return s.value }

// IsZero reports whether no credential was given.
func (s Secret) IsZero() bool { return s.value == "" }

func (s Secret) String() string               { return "[redacted]" }
func (s Secret) GoString() string             { return "config.Secret([redacted])" }
func (s Secret) LogValue() slog.Value         { return slog.StringValue("[redacted]") }
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }
func (s Secret) MarshalYAML() (any, error)    { return "[redacted]", nil }

// UnmarshalYAML reads a literal or a file: reference.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	var v string
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: a secret must be a string", n.Line)
	}
	if path, ok := strings.CutPrefix(v, "file:"); ok {
		b, err := os.ReadFile(path)
		if err != nil {
			// The path is not secret; the content would be.
			return fmt.Errorf("line %d: read secret file %s: %w", n.Line, path, err)
		}
		*s = Secret{value: strings.TrimRight(string(b), "\r\n"), from: path}
		return nil
	}
	*s = Secret{value: v, from: "literal"}
	return nil
}
