package order

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// orderReceived is when the test orders arrive: mid-morning, so that day
// counting and hour counting differ.
var orderReceived = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func testProfiles(t testing.TB) *Profiles {
	t.Helper()
	ps, err := LoadProfiles(nil)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func mustProfile(t testing.TB, ps *Profiles, name string) *Profile {
	t.Helper()
	p, err := ps.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func endOf(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return endOfDay(t)
}

func TestBuiltinProfiles(t *testing.T) {
	ps := testProfiles(t)
	want := []string{"budapest-16", "budapest-29", "custom", "eu-epoc-pr", "uncc-25", "uncc-42", "us-2703f"}
	if got := strings.Join(ps.Names(), " "); got != strings.Join(want, " ") {
		t.Fatalf("profiles %s, want %s", got, want)
	}
	for _, tc := range []struct {
		name                   string
		def, maxInit, min, per Days
		count                  ExtensionCount
		holds                  bool
		instrument             string
		describe               string
	}{
		{"us-2703f", 90, 90, 0, 90, 1, false, "2703(f)(2)", "us-2703f (18 U.S.C. 2703(f)(2)): 90 days, at most 90 days at first, 1 extension(s) of up to 90 days"},
		{"budapest-16", 90, 90, 0, 90, Unlimited, false, "art. 16(2)", ", unlimited extension(s) of up to 90 days"},
		{"budapest-29", 60, 90, 60, 90, Unlimited, true, "art. 29(7)", "; held while the request for mutual assistance is pending"},
		{"eu-epoc-pr", 60, 60, 0, 30, 1, true, "2023/1543, art. 11", "1 extension(s) of up to 30 days; held while the issuing authority has confirmed"},
		{"uncc-25", 90, 90, 0, 90, Unlimited, false, "Cybercrime, art. 25", "90 days"},
		{"uncc-42", 60, 90, 60, 90, Unlimited, true, "Cybercrime, art. 42", "at least 60 days"},
		{"custom", 0, 0, 0, 0, Unlimited, true, "legal basis", "custom (as stated in the order's legal basis): explicit expiry"},
	} {
		p := mustProfile(t, ps, tc.name)
		if p.DefaultPeriod != tc.def || p.MaxInitialPeriod != tc.maxInit || p.MinPeriod != tc.min ||
			p.Extensions.Period != tc.per || p.Extensions.Count != tc.count || (p.Extensions.While != "") != tc.holds {
			t.Errorf("%s = %+v", tc.name, p)
		}
		if !strings.Contains(p.Instrument, tc.instrument) {
			t.Errorf("%s: instrument %q, want it to cite %q", tc.name, p.Instrument, tc.instrument)
		}
		if d := p.Describe(); !strings.Contains(d, tc.describe) {
			t.Errorf("%s: Describe() = %q, want %q in it", tc.name, d, tc.describe)
		}
	}
	if _, err := ps.Lookup("us-2703"); err == nil || !strings.Contains(err.Error(), `unknown profile "us-2703" (want one of budapest-16, budapest-29, custom,`) {
		t.Errorf("unknown profile: %v", err)
	}
}

func TestDefaultExpiry(t *testing.T) {
	ps := testProfiles(t)
	for name, want := range map[string]time.Time{
		"us-2703f":    endOf("2027-02-18"), // 90 days after 2026-11-20, to the end of the day
		"budapest-16": endOf("2027-02-18"),
		"uncc-25":     endOf("2027-02-18"),
		"budapest-29": endOf("2027-01-19"),
		"uncc-42":     endOf("2027-01-19"),
		"eu-epoc-pr":  endOf("2027-01-19"),
	} {
		got, err := mustProfile(t, ps, name).DefaultExpiry(orderReceived)
		if err != nil || !got.Equal(want) {
			t.Errorf("%s: default expiry %s, %v; want %s", name, got, err, want)
		}
		// The default passes the profile's own check.
		if err := mustProfile(t, ps, name).CheckExpiry(orderReceived, got); err != nil {
			t.Errorf("%s: default expiry refused: %v", name, err)
		}
	}
	_, err := mustProfile(t, ps, "custom").DefaultExpiry(orderReceived)
	if err == nil || !strings.Contains(err.Error(), "profile custom has no default period: the order must give its expiry") {
		t.Errorf("custom default expiry: %v", err)
	}
}

func TestCheckExpiry(t *testing.T) {
	ps := testProfiles(t)
	for _, tc := range []struct {
		profile, expires string
		want             string // "" accepted, else part of the error
	}{
		{"us-2703f", "90d", ""},
		{"us-2703f", "2027-02-18", ""},           // day 90
		{"us-2703f", "2027-02-18T23:59:59Z", ""}, // its last second
		{"us-2703f", "2160h", ""},                // 90 x 24 h
		{"us-2703f", "2027-02-19T00:00:00Z", "later than profile us-2703f allows without an extension: at most 90 days (18 U.S.C. 2703(f)(2)), until 2027-02-18T23:59:59Z"},
		{"us-2703f", "91d", "at most 90 days"},
		{"us-2703f", "2027-02-19", "at most 90 days"},
		{"us-2703f", "2026-11-20T09:00:00Z", "is not after the order's receipt"},
		{"budapest-16", "90d", ""},
		{"budapest-16", "91d", "profile budapest-16 allows without an extension: at most 90 days"},
		{"uncc-25", "91d", "profile uncc-25"},
		{"eu-epoc-pr", "60d", ""},
		{"eu-epoc-pr", "61d", "profile eu-epoc-pr allows without an extension: at most 60 days (Regulation (EU) 2023/1543, art. 11)"},
		{"budapest-29", "60d", ""},
		{"budapest-29", "1440h", ""}, // exactly 60 x 24 h
		{"budapest-29", "1439h", "sooner than profile budapest-29 allows: at least 60 days"},
		{"budapest-29", "59d", "sooner than profile budapest-29 allows: at least 60 days (Council of Europe Convention on Cybercrime (ETS No. 185), art. 29(7)), until 2027-01-19T10:00:00Z or later"},
		{"budapest-29", "90d", ""},
		{"budapest-29", "91d", "at most 90 days"},
		{"uncc-42", "30d", "profile uncc-42 allows: at least 60 days"},
		{"custom", "2031-01-01", ""},
		{"custom", "1d", ""},
	} {
		p := mustProfile(t, ps, tc.profile)
		exp, err := ParseExpiry(tc.expires, orderReceived)
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckExpiry(orderReceived, exp)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s expiring %s: %v", tc.profile, tc.expires, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s expiring %s: %v, want %q", tc.profile, tc.expires, err, tc.want)
		}
	}
}

func TestExtensionExpiry(t *testing.T) {
	ps := testProfiles(t)
	first := endOf("2027-02-18")
	for _, tc := range []struct {
		profile   string
		done      int
		requested string // "" for the profile's period
		want      string // the new expiry's day, or part of the error
	}{
		{"us-2703f", 0, "", "2027-05-19"},
		{"us-2703f", 0, "90d", "2027-05-19"},
		{"us-2703f", 0, "2027-05-19", "2027-05-19"},
		{"us-2703f", 0, "2027-03-01", "2027-03-01"},
		{"us-2703f", 0, "91d", "later than profile us-2703f allows: 90 days per extension (18 U.S.C. 2703(f)(2)), until 2027-05-19T23:59:59Z"},
		{"us-2703f", 1, "", "profile us-2703f allows 1 extension (18 U.S.C. 2703(f)(2)); the order has 1 already"},
		{"us-2703f", 0, "2027-02-18", "is not after the current expiry"},
		{"budapest-16", 7, "", "2027-05-19"},
		{"eu-epoc-pr", 0, "", "2027-03-20"},
		{"eu-epoc-pr", 0, "31d", "30 days per extension"},
		{"eu-epoc-pr", 1, "30d", "profile eu-epoc-pr allows 1 extension"},
		{"budapest-29", 3, "90d", "2027-05-19"},
		{"custom", 12, "2030-01-01", "2030-01-01"},
		{"custom", 0, "", "profile custom sets no extension period: give the new expiry"},
	} {
		var req time.Time
		if tc.requested != "" {
			var err error
			if req, err = ParseExpiry(tc.requested, first); err != nil {
				t.Fatal(err)
			}
		}
		got, err := mustProfile(t, ps, tc.profile).ExtensionExpiry(first, tc.done, req)
		if wantDay, perr := time.Parse(time.DateOnly, tc.want); perr == nil {
			if err != nil || !got.Equal(endOfDay(wantDay)) {
				t.Errorf("%s extension %d to %q: %s, %v; want %s", tc.profile, tc.done+1, tc.requested, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s extension %d to %q: %v, want %q", tc.profile, tc.done+1, tc.requested, err, tc.want)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	base := orderReceived
	for _, tc := range []struct{ in, want string }{
		{"2027-02-18", "2027-02-18T23:59:59Z"},
		{"2027-02-18T12:00:00+01:00", "2027-02-18T11:00:00Z"},
		{"90d", "2027-02-18T23:59:59Z"},
		{"1d", "2026-11-21T23:59:59Z"},
		{"2160h", "2027-02-18T10:00:00Z"},
		{" 36h30m ", "2026-11-21T22:30:00Z"},
	} {
		got, err := ParseExpiry(tc.in, base)
		if err != nil || got.Format(time.RFC3339) != tc.want {
			t.Errorf("ParseExpiry(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "tomorrow", "0d", "-5d", "90 d", "-1h", "0s", "2027-02-30", "2027-02-18T10:00:00", "99999999d"} {
		if got, err := ParseExpiry(in, base); err == nil {
			t.Errorf("ParseExpiry(%q) = %s, want an error", in, got)
		}
	}
}

func TestLoadProfilesOverrides(t *testing.T) {
	ps, err := LoadProfiles(map[string]any{
		// Change one field of a built-in profile; the rest stays.
		"us-2703f": map[string]any{"reminders": []any{"30d", 3}},
		// A nested block changes only what it names.
		"budapest-16": map[string]any{"extensions": map[string]any{"count": 2}},
		// A profile of one's own.
		"de-sicherung": map[string]any{
			"title": "Sicherungsanordnung", "instrument": "StPO 100g", "default_period": "30d",
			"max_initial_period": "30d", "extensions": map[string]any{"count": "unlimited", "period": "30d"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	us := mustProfile(t, ps, "us-2703f")
	if len(us.Reminders) != 2 || us.Reminders[0] != 30 || us.Reminders[1] != 3 || us.DefaultPeriod != 90 || us.Extensions.Count != 1 {
		t.Errorf("us-2703f after override: %+v", us)
	}
	b16 := mustProfile(t, ps, "budapest-16")
	if b16.Extensions.Count != 2 || b16.Extensions.Period != 90 {
		t.Errorf("budapest-16 after override: %+v", b16.Extensions)
	}
	de := mustProfile(t, ps, "de-sicherung")
	if de.Name != "de-sicherung" || de.DefaultPeriod != 30 || de.Extensions.Count != Unlimited {
		t.Errorf("new profile: %+v", de)
	}
	// The built-in set is not changed by another load's overrides.
	if n := len(mustProfile(t, testProfiles(t), "us-2703f").Reminders); n != 3 {
		t.Errorf("built-in us-2703f has %d reminders after an override elsewhere", n)
	}
}

func TestLoadProfilesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		def  any
		want string
	}{
		{"us-2703f", map[string]any{"default_period": "ninety"}, `configured profile us-2703f: default_period: want a number of days such as "90d", not "ninety"`},
		{"us-2703f", map[string]any{"extensions": map[string]any{"period": "-3d"}}, "extensions.period: a period of -3 days is negative"},
		{"us-2703f", map[string]any{"extensions": map[string]any{"count": "many"}}, `extensions.count: want a number of extensions from 0, or "unlimited", not "many"`},
		{"us-2703f", map[string]any{"max_period": "90d"}, "configured profile us-2703f: max_period: unknown field"},
		{"us-2703f", map[string]any{"extensions": map[string]any{"limit": 2}}, "limit: unknown field"},
		{"us-2703f", map[string]any{"title": 7}, "title: want a string, not a JSON number"},
		{"us-2703f", map[string]any{"default_period": "120d"}, `configured profile "us-2703f": default_period 120d is longer than max_initial_period 90d`},
		{"budapest-29", map[string]any{"default_period": "30d"}, "default_period 30d is shorter than min_period 60d"},
		{"mine", map[string]any{"instrument": "x"}, `configured profile "mine": title: missing`},
		{"mine", map[string]any{"title": "x"}, "instrument: missing"},
		{"Mine", map[string]any{"title": "x", "instrument": "y"}, "the name must be lower-case letters"},
		{"mine", "90d", "want a mapping, not a JSON string"},
		{"mine", map[any]any{1: 2}, "not a plain mapping of fields"},
	} {
		_, err := LoadProfiles(map[string]any{tc.name: tc.def})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("profile %s %v: %v, want %q", tc.name, tc.def, err, tc.want)
		}
	}
}

func TestProfileJSON(t *testing.T) {
	p := mustProfile(t, testProfiles(t), "us-2703f")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"title":"United States preservation request to a provider of electronic communication or remote computing service",` +
		`"instrument":"18 U.S.C. 2703(f)(2)","default_period":"90d","max_initial_period":"90d",` +
		`"extensions":{"count":1,"period":"90d"},"reminders":["14d","7d","2d"]}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var back Profile
	if err := decodeJSONStrict(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Name = p.Name
	if back.Describe() != p.Describe() || len(back.Reminders) != 3 {
		t.Errorf("round trip: %+v", back)
	}
	var c ExtensionCount
	if err := json.Unmarshal([]byte(`"unlimited"`), &c); err != nil || c != Unlimited {
		t.Errorf("unlimited: %v %v", c, err)
	}
	if err := json.Unmarshal([]byte(`-1`), &c); err == nil || !strings.Contains(err.Error(), "from 0") {
		t.Errorf("count -1: %v", err)
	}
}

func TestYAMLTree(t *testing.T) {
	tree, err := yamlToTree([]byte("a: 2027-02-18\nb: &x {c: 1}\nd: *x\ne: [yes, NO, 1.5]\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tree)
	if want := `{"a":"2027-02-18","b":{"c":1},"d":{"c":1},"e":["yes","NO",1.5]}`; string(b) != want {
		t.Errorf("tree %s, want %s (a date stays a string, NO stays Norway)", b, want)
	}
	for in, want := range map[string]string{
		"a: 1\na: 2\n":    "line 2: a given twice",
		"? [1]\n: 2\n":    "a key that is not a string",
		"a: 1\n---\nb: 2": "more than one YAML document",
		"a: [1, 2":        "did not find expected",
	} {
		if _, err := yamlToTree([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("yamlToTree(%q) = %v, want %q", in, err, want)
		}
	}
	// Aliases cannot blow a small document up without bound.
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	if _, err := yamlToTree([]byte(bomb)); err == nil || !strings.Contains(err.Error(), "more than 100000 values") {
		t.Errorf("alias bomb: %v", err)
	}
}
