// Package statuswords matches the status words an API answers for a job
// (UPS, EnableNow) against the lists the connector's config gives: without
// regard to case or the space around a word, so that an answer's
// "completed " is the config's "COMPLETED". It decides nothing else: what
// a word means is the sink's.
package statuswords

import "strings"

// Set is one configured list of words, kept folded.
type Set map[string]bool

// New is the set of words.
func New(words []string) Set {
	set := make(Set, len(words))
	for _, w := range words {
		set[Fold(w)] = true
	}
	return set
}

// Fold is the form words are kept and matched in. A status looked up in
// several sets is folded once and indexed: s[Fold(status)].
func Fold(word string) string { return strings.ToLower(strings.TrimSpace(word)) }

// Has reports whether status, as the API answered it, is in the set.
func (s Set) Has(status string) bool { return s[Fold(status)] }
