package diff

import (
	"bytes"
	"strconv"
)

// decimal is a JSON number in canonical form: value = ±0.digits × 10^exp,
// with no leading or trailing zeros in digits. Two numbers are equal by
// value exactly when their canonical forms are equal, so 1, 1.0, 10e-1 and
// 0.1e1 all compare equal, without floating-point rounding (large ids such as
// 9007199254740993 stay distinct from 9007199254740992).
type decimal struct {
	neg    bool
	digits []byte // a sub-slice of the source; no leading/trailing zeros
	exp    int64
	// bigExp holds the exponent's digits when they do not fit an int64
	// comfortably; such numbers compare by (point, bigExp) text. They are
	// far outside anything a real API sends.
	bigExp []byte
	point  int64
}

// parseDecimal canonicalises a JSON number. ok is false if s is not one.
func parseDecimal(s []byte) (d decimal, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	intStart := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[intStart:i]
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		return d, false
	}
	var frac []byte
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
		if len(frac) == 0 {
			return d, false
		}
	}
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		ed := s[es:i]
		if len(ed) == 0 {
			return d, false
		}
		ed = bytes.TrimLeft(ed, "0")
		if len(ed) > 15 {
			if eneg {
				d.bigExp = append([]byte{'-'}, ed...)
			} else {
				d.bigExp = ed
			}
		} else if len(ed) > 0 {
			v, _ := strconv.ParseInt(string(ed), 10, 64)
			if eneg {
				v = -v
			}
			exp = v
		}
	}
	if i != len(s) {
		return d, false
	}
	// digits = intPart ++ frac without copying: handle the two parts.
	point := int64(len(intPart))
	if len(frac) == 0 {
		lead := 0
		for lead < len(intPart) && intPart[lead] == '0' {
			lead++
		}
		digits := intPart[lead:]
		point -= int64(lead)
		digits = bytes.TrimRight(digits, "0")
		d.digits = digits
	} else if allZero(intPart) {
		lead := 0
		for lead < len(frac) && frac[lead] == '0' {
			lead++
		}
		point = -int64(lead)
		d.digits = bytes.TrimRight(frac[lead:], "0")
	} else {
		// A non-zero integer part followed by a fraction: the digits are
		// contiguous in the source apart from the '.', so the canonical digit
		// string must be built.
		lead := 0
		for lead < len(intPart) && intPart[lead] == '0' {
			lead++
		}
		point -= int64(lead)
		buf := make([]byte, 0, len(intPart)-lead+len(frac))
		buf = append(buf, intPart[lead:]...)
		buf = append(buf, frac...)
		d.digits = bytes.TrimRight(buf, "0")
	}
	if len(d.digits) == 0 {
		return decimal{}, true // zero: sign and exponent do not matter
	}
	d.point = point
	d.exp = point + exp
	return d, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != '0' {
			return false
		}
	}
	return true
}

func (a decimal) equal(b decimal) bool {
	if a.neg != b.neg || !bytes.Equal(a.digits, b.digits) {
		return false
	}
	if a.bigExp != nil || b.bigExp != nil {
		return a.point == b.point && bytes.Equal(a.bigExp, b.bigExp)
	}
	return a.exp == b.exp
}

// numbersEqual compares two JSON number literals by value.
func numbersEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	da, ok1 := parseDecimal(a)
	db, ok2 := parseDecimal(b)
	if !ok1 || !ok2 {
		return false
	}
	return da.equal(db)
}

// withinTolerance reports whether two numbers differ by no more than abs, or
// by no more than rel times the larger magnitude.
func withinTolerance(a, b []byte, abs, rel float64) bool {
	x, err1 := strconv.ParseFloat(string(a), 64)
	y, err2 := strconv.ParseFloat(string(b), 64)
	if err1 != nil || err2 != nil {
		return false
	}
	d := x - y
	if d < 0 {
		d = -d
	}
	if abs > 0 && d <= abs {
		return true
	}
	if rel > 0 {
		m := x
		if m < 0 {
			m = -m
		}
		if y2 := max(y, -y); y2 > m {
			m = y2
		}
		return d <= rel*m
	}
	return false
}
