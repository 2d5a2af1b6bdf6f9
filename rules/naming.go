package rules

import (
	"strconv"
	"strings"
)

// Template names the endpoint of a request that no rule matches: the method
// and the path with every segment that looks like an identifier (all
// digits, a UUID, or a hex string of 16 characters or more) replaced by
// {id}. "GET /api/users/42?x=1" becomes "GET /api/users/{id}"; further
// identifiers in the same path become {id2}, {id3}, … so that every name is
// also a valid match string for a rule.
func Template(method, path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		path = "/"
	}
	var b strings.Builder
	b.Grow(len(method) + 1 + len(path))
	b.WriteString(method)
	b.WriteByte(' ')
	ids := 0
	for i, seg := range strings.Split(path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		if isID(seg) {
			ids++
			if ids == 1 {
				b.WriteString("{id}")
			} else {
				b.WriteString("{id" + strconv.Itoa(ids) + "}")
			}
		} else {
			b.WriteString(seg)
		}
	}
	return b.String()
}

func isID(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := true, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		if !isDigit {
			digits = false
		}
		if !isDigit && !(c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			hex = false
		}
	}
	return digits || (hex && len(s) >= 16) || isUUID(s)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
