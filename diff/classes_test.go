package diff_test

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemproxy/tandem/diff"
)

// jwt builds a compact token from a header and claims (the signature is
// opaque to tandem, so any base64url bytes do).
func jwt(header, claims, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(claims)) + "." + enc([]byte(sig))
}

func TestClass_Is(t *testing.T) {
	tok := jwt(`{"alg":"HS256","typ":"JWT"}`, `{"sub":"u1","iat":1700000000}`, "sig")
	tests := []struct {
		class diff.Class
		in    string
		want  bool
	}{
		{diff.ClassUUID, "123e4567-e89b-12d3-a456-426614174000", true},
		{diff.ClassUUID, "123E4567-E89B-12D3-A456-426614174000", true},
		{diff.ClassUUID, "00000000-0000-0000-0000-000000000000", true},
		{diff.ClassUUID, "123e4567e89b12d3a456426614174000", false}, // no dashes
		{diff.ClassUUID, "123e4567-e89b-12d3-a456-42661417400g", false},
		{diff.ClassUUID, "{123e4567-e89b-12d3-a456-426614174000}", false},
		{diff.ClassUUID, "", false},
		{diff.ClassTimestamp, "2024-01-02T10:00:00Z", true},
		{diff.ClassTimestamp, "2024-01-02T10:00:00.123456+01:00", true},
		{diff.ClassTimestamp, "2024-01-02t10:00:00z", true},
		{diff.ClassTimestamp, "2024-01-02T25:00:00Z", false},
		{diff.ClassTimestamp, "2024-01-02 10:00:00", false},
		{diff.ClassTimestamp, "1700000000", true},      // seconds
		{diff.ClassTimestamp, "1700000000.25", true},   // seconds with a fraction
		{diff.ClassTimestamp, "1700000000000", true},   // milliseconds
		{diff.ClassTimestamp, "1.7e9", true},           // a float encoder's seconds
		{diff.ClassTimestamp, "42", false},             // a count, not a time
		{diff.ClassTimestamp, "-1700000000", false},    // before 2000
		{diff.ClassTimestamp, "99999999999999", false}, // after 2100 in millis
		{diff.ClassTimestamp, "NaN", false},
		{diff.ClassTimestamp, "", false},
		{diff.ClassDate, "2024-02-29", true},
		{diff.ClassDate, "2023-02-29", false},
		{diff.ClassDate, "2024-2-9", false},
		{diff.ClassDate, "2024-01-02T10:00:00Z", false},
		{diff.ClassJWT, tok, true},
		{diff.ClassJWT, jwt(`{"alg":"none"}`, `{"sub":"u1"}`, ""), true},
		{diff.ClassJWT, jwt(`{"typ":"JWT"}`, `{"sub":"u1"}`, "s"), false}, // no alg
		{diff.ClassJWT, jwt(`{"alg":"HS256"}`, `[1]`, "s"), false},        // claims not an object
		{diff.ClassJWT, "a.b.c", false},
		{diff.ClassJWT, tok + ".x", false},
		{diff.ClassHexID, "0123456789abcdef", true},
		{diff.ClassHexID, "507F1F77BCF86CD799439011", true},
		{diff.ClassHexID, "0123456789abcde", false}, // 15 digits
		{diff.ClassHexID, "0123456789abcdeg", false},
	}
	for _, tt := range tests {
		t.Run(string(tt.class)+"/"+tt.in, func(t *testing.T) {
			if got := tt.class.Is(tt.in); got != tt.want {
				t.Errorf("%s.Is(%q) = %v, want %v", tt.class, tt.in, got, tt.want)
			}
		})
	}
}

func TestParseClass(t *testing.T) {
	for _, c := range diff.Classes {
		if got, err := diff.ParseClass(string(c)); err != nil || got != c {
			t.Errorf("ParseClass(%q) = %q, %v", c, got, err)
		}
	}
	if _, err := diff.ParseClass("guid"); err == nil {
		t.Error("ParseClass(guid) succeeded")
	}
}

func TestComparer_Compare_IgnoreValues(t *testing.T) {
	hdr := `{"alg":"RS256","typ":"JWT","kid":"k1"}`
	tokA := jwt(hdr, `{"sub":"u1","aud":"app","iat":1700000000,"exp":1700003600,"jti":"a1"}`, "sigA")
	tokB := jwt(`{"alg":"RS256","typ":"JWT","kid":"k2"}`, `{"sub":"u1","aud":"app","iat":1700000100,"exp":1700003700,"jti":"b2"}`, "sigB")
	tokSub := jwt(hdr, `{"sub":"u2","aud":"app","iat":1700000000,"exp":1700003600,"jti":"a1"}`, "sigC")
	tokAlg := jwt(`{"alg":"HS256","typ":"JWT","kid":"k1"}`, `{"sub":"u1","aud":"app","iat":1700000000,"exp":1700003600,"jti":"a1"}`, "sigD")
	class := func(path string, k diff.Class) diff.Options {
		return diff.Options{IgnoreValues: []diff.ValueClass{{Path: diff.MustParsePath(path), Class: k}}}
	}
	tests := []struct {
		name string
		opts diff.Options
		a, b string
		want []string
	}{
		{name: "UUIDs", opts: class("$..id", diff.ClassUUID),
			a: `{"id":"123e4567-e89b-12d3-a456-426614174000","items":[{"id":"00000000-0000-0000-0000-000000000001"}]}`,
			b: `{"id":"9b2e4567-e89b-12d3-a456-426614174999","items":[{"id":"00000000-0000-0000-0000-000000000002"}]}`, want: []string{}},
		{name: "UUIDVersusNull", opts: class("$..id", diff.ClassUUID),
			a: `{"id":"123e4567-e89b-12d3-a456-426614174000"}`, b: `{"id":null}`, want: []string{"type $.id"}},
		{name: "UUIDVersusInteger", opts: class("$..id", diff.ClassUUID),
			a: `{"id":"123e4567-e89b-12d3-a456-426614174000"}`, b: `{"id":7}`, want: []string{"type $.id"}},
		{name: "UUIDVersusOtherString", opts: class("$..id", diff.ClassUUID),
			a: `{"id":"123e4567-e89b-12d3-a456-426614174000"}`, b: `{"id":"n/a"}`, want: []string{"changed $.id"}},
		{name: "OnlyAtThePath", opts: class("$.id", diff.ClassUUID),
			a: `{"id":"123e4567-e89b-12d3-a456-426614174000","ref":"123e4567-e89b-12d3-a456-426614174000"}`,
			b: `{"id":"223e4567-e89b-12d3-a456-426614174000","ref":"223e4567-e89b-12d3-a456-426614174000"}`, want: []string{"changed $.ref"}},
		{name: "RFC3339", opts: class("$.at", diff.ClassTimestamp), a: `{"at":"2024-01-02T10:00:00Z"}`, b: `{"at":"2025-06-07T11:12:13.5+02:00"}`, want: []string{}},
		{name: "EpochSeconds", opts: class("$.at", diff.ClassTimestamp), a: `{"at":1700000000}`, b: `{"at":1700000123}`, want: []string{}},
		{name: "EpochMillis", opts: class("$.at", diff.ClassTimestamp), a: `{"at":1700000000000}`, b: `{"at":1700000123456}`, want: []string{}},
		{name: "SecondsVersusMillis", opts: class("$.at", diff.ClassTimestamp), a: `{"at":1700000000}`, b: `{"at":1700000000000}`, want: []string{"changed $.at"}},
		{name: "RFC3339VersusEpoch", opts: class("$.at", diff.ClassTimestamp), a: `{"at":"2024-01-02T10:00:00Z"}`, b: `{"at":"1700000000"}`, want: []string{"changed $.at"}},
		{name: "EpochVersusCount", opts: class("$.at", diff.ClassTimestamp), a: `{"at":1700000000}`, b: `{"at":0}`, want: []string{"changed $.at"}},
		{name: "Dates", opts: class("$..day", diff.ClassDate), a: `[{"day":"2024-01-02"}]`, b: `[{"day":"2024-02-29"}]`, want: []string{}},
		{name: "BadDate", opts: class("$..day", diff.ClassDate), a: `[{"day":"2024-01-02"}]`, b: `[{"day":"2024-13-01"}]`, want: []string{"changed $[0].day"}},
		{name: "HexIDs", opts: class("$.trace", diff.ClassHexID), a: `{"trace":"4bf92f3577b34da6a3ce929d0e0e4736"}`, b: `{"trace":"00f067aa0ba902b7"}`, want: []string{}},
		{name: "HexIDIsNotANumber", opts: class("$.n", diff.ClassHexID), a: `{"n":1234567890123456}`, b: `{"n":6543210987654321}`, want: []string{"changed $.n"}},
		{name: "HexIDDigitsInAString", opts: class("$.n", diff.ClassHexID), a: `{"n":"1234567890123456"}`, b: `{"n":"6543210987654321"}`, want: []string{}},
		{name: "HexIDVersusEmpty", opts: class("$.trace", diff.ClassHexID), a: `{"trace":"4bf92f3577b34da6a3ce929d0e0e4736"}`, b: `{"trace":""}`, want: []string{"changed $.trace"}},
		{name: "JWTVolatileOnly", opts: class("$.token", diff.ClassJWT), a: `{"token":"` + tokA + `"}`, b: `{"token":"` + tokB + `"}`, want: []string{}},
		{name: "JWTOtherSubject", opts: class("$.token", diff.ClassJWT), a: `{"token":"` + tokA + `"}`, b: `{"token":"` + tokSub + `"}`, want: []string{"changed $.token.sub"}},
		{name: "JWTOtherAlg", opts: class("$.token", diff.ClassJWT), a: `{"token":"` + tokA + `"}`, b: `{"token":"` + tokAlg + `"}`, want: []string{"changed $.token['#header'].alg"}},
		{name: "JWTVersusGarbage", opts: class("$.token", diff.ClassJWT), a: `{"token":"` + tokA + `"}`, b: `{"token":"x.y.z"}`, want: []string{"changed $.token"}},
		{name: "JWTRulesApplyInside", opts: diff.Options{
			IgnoreValues: []diff.ValueClass{{Path: diff.MustParsePath("$.token"), Class: diff.ClassJWT}},
			Ignore:       paths("$.token.sub"),
		}, a: `{"token":"` + tokA + `"}`, b: `{"token":"` + tokSub + `"}`, want: []string{}},
		{name: "NoClassNoMercy", a: `{"id":"123e4567-e89b-12d3-a456-426614174000"}`, b: `{"id":"223e4567-e89b-12d3-a456-426614174000"}`, want: []string{"changed $.id"}},
	}
	for _, engine := range engines {
		for _, tt := range tests {
			t.Run(string(engine)+"/"+tt.name, func(t *testing.T) {
				opts := tt.opts
				got, err := diff.NewEngine(opts, engine).Compare(jsonResp(tt.a), jsonResp(tt.b))
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.want, summary(got)); d != "" {
					t.Errorf("differences (-want +got):\n%s", d)
				}
				for _, d := range got {
					if want := diff.PatternOf(d.Path); d.Pattern != want {
						t.Errorf("pattern of %s = %s, want %s", d.Path, d.Pattern, want)
					}
				}
			})
		}
	}
}

// TestComparer_IgnoreValues_RealBodies: on real GitHub answers whose times
// a second run of the API changes, ignore_values naming $..created_at,
// $..updated_at and $..closed_at as timestamps
// makes the bodies equal, and a candidate that drops one time to null is
// caught, in both engines.
func TestComparer_IgnoreValues_RealBodies(t *testing.T) {
	body := loadBodies(t)["issues.json"]
	times := regexp.MustCompile(`"(\w+_at)": "\d{4}-\d\d-\d\dT[0-9:]+Z"`)
	later := times.ReplaceAllString(string(body), `"$1": "2026-12-02T18:00:00.123+01:00"`)
	if later == string(body) {
		t.Fatal("no times in the fixture")
	}
	var rules []diff.ValueClass
	for _, k := range []string{"created_at", "updated_at", "closed_at"} {
		rules = append(rules, diff.ValueClass{Path: diff.MustParsePath("$.." + k), Class: diff.ClassTimestamp})
	}
	nulled := strings.Replace(later, `"2026-12-02T18:00:00.123+01:00"`, "null", 1)
	for _, engine := range engines {
		c := diff.NewEngine(diff.Options{IgnoreValues: rules}, engine)
		got, err := c.Compare(jsonResp(string(body)), jsonResp(later))
		if err != nil || len(got) != 0 {
			t.Errorf("%s: times rewritten: %v %v", engine, summary(got), err)
		}
		got, err = c.Compare(jsonResp(string(body)), jsonResp(nulled))
		if err != nil || len(got) != 1 || got[0].Kind != "type" {
			t.Errorf("%s: a time dropped to null: %v %v", engine, summary(got), err)
		}
		got, _ = diff.NewEngine(diff.Options{}, engine).Compare(jsonResp(string(body)), jsonResp(later))
		if len(got) == 0 {
			t.Errorf("%s: without the rule the times differ", engine)
		}
	}
}

// Each class's text pattern (for normalize rules) finds a typical value
// inside text, whole, and leaves a near miss alone.
func TestClass_Pattern(t *testing.T) {
	tests := []struct {
		class    diff.Class
		value    string
		nearMiss string
	}{
		{diff.ClassUUID, "123e4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-42661417400"},
		{diff.ClassTimestamp, "2024-01-02T10:00:00.5+01:00", "2024-01-02 10:00"},
		{diff.ClassTimestamp, "1700000000000", "17000000000"},
		{diff.ClassDate, "2024-02-29", "2024-2-29"},
		{diff.ClassJWT, jwt(`{"alg":"HS256"}`, `{"sub":"u"}`, "s"), "eyJhbGciOi"},
		{diff.ClassHexID, "4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da"},
	}
	for _, tt := range tests {
		t.Run(string(tt.class), func(t *testing.T) {
			re := regexp.MustCompile(tt.class.Pattern())
			if got := re.FindString("at " + tt.value + " ok"); got != tt.value {
				t.Errorf("found %q in text holding %q", got, tt.value)
			}
			if got := re.FindString("at " + tt.nearMiss + " ok"); got != "" {
				t.Errorf("found %q in %q", got, tt.nearMiss)
			}
		})
	}
}
