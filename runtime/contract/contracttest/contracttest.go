// Package contracttest holds test data about the runtime contract that
// tests in more than one module share.
package contracttest

import "testing"

// AddUUIDSeeds adds to f's corpus the strings every fuzz target of an
// instance-id parser starts from: a canonical UUID (lower-case,
// hyphenated), the same in upper case, in braces, as a URN, without
// hyphens, with a non-hex digit, with a wrong separator, one digit short,
// empty, and not a UUID at all.
func AddUUIDSeeds(f *testing.F) {
	for _, s := range []string{
		"6d1b3c2a-0000-4000-8000-00000000000a", "6D1B3C2A-0000-4000-8000-00000000000A",
		"{6d1b3c2a-0000-4000-8000-00000000000a}", "urn:uuid:6d1b3c2a-0000-4000-8000-00000000000a",
		"6d1b3c2a000040008000000000000000", "6d1b3c2a-0000-4000-8000-00000000000g",
		"6d1b3c2a-0000-4000-8000_00000000000a", "6d1b3c2a-0000-4000-8000-00000000000", "", "x",
	} {
		f.Add(s)
	}
}
