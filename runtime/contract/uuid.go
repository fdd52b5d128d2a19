package contract

// IsCanonicalUUID reports whether s is a UUID in canonical form (36
// characters, lower-case hex, hyphens at 8, 13, 18 and 23): uuid.Parse
// accepts it and its String is s itself. What every node sends is: the
// receivers of instance ids check this first and keep s, where parsing
// and printing it would make two new strings per id.
func IsCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}
