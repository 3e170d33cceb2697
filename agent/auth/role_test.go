package auth

import (
	"slices"
	"strings"
	"testing"
)

func TestRoles(t *testing.T) {
	want := []Role{"intake", "custodian", "discloser", "auditor", "admin"}
	if got := Roles(); !slices.Equal(got, want) {
		t.Fatalf("Roles() = %v, want %v", got, want)
	}
	for _, r := range want {
		got, err := ParseRole(string(r))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
}

func TestParseRoleErrors(t *testing.T) {
	for _, s := range []string{"", "Admin", "ADMIN", " admin", "admin ", "root", "custodians", "auditor\n"} {
		r, err := ParseRole(s)
		if err == nil {
			t.Errorf("ParseRole(%q) = %q, want an error", s, r)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "intake, custodian, discloser, auditor, admin") {
			t.Errorf("ParseRole(%q): error %q does not list the roles", s, msg)
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("ParseRole(%q): error %q spans lines", s, msg)
		}
	}
}

func TestHasRole(t *testing.T) {
	id := &Identity{Name: "alice", Role: Custodian, Method: MethodToken}
	tests := []struct {
		id    *Identity
		roles []Role
		want  bool
	}{
		{id, []Role{Custodian}, true},
		{id, []Role{Intake, Custodian}, true},
		{id, []Role{Admin}, false}, // roles do not nest
		{id, nil, false},
		{nil, []Role{Custodian}, false},
		{&Identity{Name: "x", Role: Admin}, []Role{Custodian, Discloser, Auditor, Intake}, false},
	}
	for i, tt := range tests {
		if got := HasRole(tt.id, tt.roles...); got != tt.want {
			t.Errorf("%d: HasRole(%v, %v) = %v, want %v", i, tt.id, tt.roles, got, tt.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"role:custodian", false},
		{"Role:auditor", false},
		{"my role: custodian", true},
		{"a", true},
		{"Jean-Luc Picard", true},
		{"ops@example.org (night shift)", true},
		{"Zoë Ångström", true},
		{"日本語の名前", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("é", 64), true}, // characters, not bytes
		{"", false},
		{strings.Repeat("x", 65), false},
		{"alice\nbob", false},
		{"alice\r", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"esc\x1b[31m", false},
		{"del\x7f", false},
		{" alice", false},
		{"alice ", false},
		{"nbsp\u00a0x", false},
		{"line\u2028sep", false},
		{"bidi\u202eoverride", false},
		{"zero\u200bwidth", false},
		{"bad\xffutf8", false},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\r\x00\x1b") {
			t.Errorf("ValidateName(%q): error %q holds a control character", tt.name, err)
		}
	}
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"alice", "a\nb", " x", "Zoë", "\u202e", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if strings.ContainsAny(name, "\n\r\t\x00") {
			t.Fatalf("ValidateName accepted %q", name)
		}
		if p := printable(name); p != name {
			t.Fatalf("a valid name %q would be quoted as %s", name, p)
		}
	})
}
