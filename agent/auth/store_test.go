package auth

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)
	t1 = t0.Add(36 * time.Hour)
)

func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

func tokenPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "tokens.json")
}

func openStore(t *testing.T, path string, now time.Time) *Store {
	t.Helper()
	s, err := OpenStore(path, clock(now))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCreate(t *testing.T, s *Store, name string, role Role) (string, *Token) {
	t.Helper()
	secret, tok, err := s.Create(name, role)
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

// refused fails the test unless err is ErrUnauthenticated itself: not
// wrapped, so that no caller can learn why.
func refused(t *testing.T, what string, id *Identity, err error) {
	t.Helper()
	if err != ErrUnauthenticated || id != nil { // the very error, unwrapped
		t.Errorf("%s: Authenticate = %v, %v; want nil, ErrUnauthenticated", what, id, err)
	}
}

func TestCreateAuthenticate(t *testing.T) {
	path := tokenPath(t)
	s := openStore(t, path, t0)
	secret, tok, err := s.Create("alice", Custodian)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Name != "alice" || tok.Role != Custodian || !tok.Created.Equal(t0) || tok.Revoked != nil {
		t.Errorf("token = %+v", tok)
	}
	if !strings.HasPrefix(secret, "custos_"+tok.ID+"_") || len(secret) != secretLen {
		t.Errorf("secret %q does not hold the id %s or has the wrong length", secret, tok.ID)
	}

	id, err := s.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Name: "alice", Role: Custodian, TokenID: tok.ID, Method: MethodToken}
	if *id != want {
		t.Errorf("identity = %+v, want %+v", *id, want)
	}
	if got, want := id.String(), "alice (custodian, token "+tok.ID+")"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if strings.Contains(id.String(), secret[idEnd+1:]) {
		t.Error("String() holds the secret")
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != tok.ID || list[0].Hash != tok.Hash || !list[0].Created.Equal(t0) {
		t.Errorf("List() = %+v, want [%+v]", list, tok)
	}

	// A fresh store reads the same token from the file.
	id2, err := openStore(t, path, t1).Authenticate(secret)
	if err != nil || *id2 != want {
		t.Errorf("fresh store: %v, %v", id2, err)
	}
}

func TestAuthenticateRefused(t *testing.T) {
	s := openStore(t, tokenPath(t), t0)
	secret, tok := mustCreate(t, s, "alice", Custodian)
	otherSecret, other := mustCreate(t, s, "bob", Auditor)
	revokedSecret, revoked := mustCreate(t, s, "carol", Admin)
	if _, err := s.Revoke(revoked.ID); err != nil {
		t.Fatal(err)
	}
	fresh, err := newSecret(tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := secret[len(secret)-1]
	tampered := secret[:len(secret)-1] + map[bool]string{true: "b", false: "a"}[last == 'a']
	random := secret[idEnd+1:]

	cases := []struct{ what, secret string }{
		{"empty", ""},
		{"prefix only", "custos_"},
		{"wrong secret for the id", fresh},
		{"last character changed", tampered},
		{"first random character changed", secret[:idEnd+1] + string(secret[idEnd+1]^1) + secret[idEnd+2:]},
		{"another token's id with this secret", "custos_" + other.ID + "_" + random},
		{"this id with another token's secret", "custos_" + tok.ID + "_" + otherSecret[idEnd+1:]},
		{"revoked", revokedSecret},
		{"lower-case id", "custos_" + strings.ToLower(tok.ID) + "_" + random},
		{"upper-case secret", strings.ToUpper(secret)},
		{"wrong prefix", "custas_" + tok.ID + "_" + random},
		{"no separator", "custos_" + tok.ID + "-" + random},
		{"truncated", secret[:len(secret)-1]},
		{"one more character", secret + "a"},
		{"trailing newline", secret + "\n"},
		{"leading space", " " + secret},
		{"Bearer scheme left on", "Bearer " + secret},
		{"hash instead of secret", tok.Hash},
		{"id only", tok.ID},
		{"257 bytes", "custos_" + tok.ID + "_" + strings.Repeat("a", 257-idEnd-1)},
		{"a megabyte", secret + strings.Repeat("a", 1<<20)},
		{"NUL bytes", strings.Repeat("\x00", secretLen)},
	}
	for _, c := range cases {
		id, err := s.Authenticate(c.secret)
		refused(t, c.what, id, err)
	}
	if _, err := s.Authenticate(secret); err != nil {
		t.Errorf("the real secret stopped working: %v", err)
	}
	if _, err := s.Authenticate(otherSecret); err != nil {
		t.Errorf("the other secret stopped working: %v", err)
	}
}

func TestAuthenticateMalformedDoesNoWork(t *testing.T) {
	// A store whose file cannot be read: a malformed secret must be refused
	// before the store looks at the file.
	path := filepath.Join(t.TempDir(), "tokens.json")
	s := openStore(t, path, t0)
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("custos_", 1<<18)
	for _, in := range []string{"", huge, "custos_x", strings.Repeat("a", secretLen)} {
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := s.Authenticate(in); err != ErrUnauthenticated { // the very error
				t.Fatalf("Authenticate(%.20q...) = %v", in, err)
			}
		})
		if allocs != 0 {
			t.Errorf("Authenticate(%.20q...) allocates %v times", in, allocs)
		}
	}
	// A well-formed secret reaches the file, and the damage is reported,
	// not taken for a refusal.
	sec, err := newSecret("01JB8Q6W2Y3V5X7Z9A1C3E5G7K")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(sec); err == nil || errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), path) {
		t.Errorf("malformed file: %v, want an error naming %s", err, path)
	}
}

func TestFileHoldsNoSecret(t *testing.T) {
	path := tokenPath(t)
	s := openStore(t, path, t0)
	var secrets []string
	for i, r := range Roles() {
		secret, _ := mustCreate(t, s, fmt.Sprintf("user %d", i), r)
		secrets = append(secrets, secret)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range secrets {
		random := secret[idEnd+1:]
		if bytes.Contains(data, []byte(random)) || bytes.Contains(bytes.ToUpper(data), []byte(strings.ToUpper(random[:16]))) {
			t.Errorf("the token file holds secret %s:\n%s", secret, data)
		}
	}
	for _, p := range []string{path, path + ".lock"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", p, m)
		}
	}
	// No temporary file is left behind.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want tokens.json and its lock", len(entries))
	}
}

func TestRevoke(t *testing.T) {
	s := openStore(t, tokenPath(t), t0)
	secret, tok := mustCreate(t, s, "alice", Custodian)
	s.now = clock(t1)
	r, err := s.Revoke(tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != tok.ID || r.Revoked == nil || !r.Revoked.Equal(t1) {
		t.Fatalf("Revoke = %+v", r)
	}
	id, err := s.Authenticate(secret)
	refused(t, "revoked", id, err)

	// Again: nothing changes, and the first revocation time stays.
	s.now = clock(t1.Add(time.Hour))
	r2, err := s.Revoke(tok.ID)
	if err != nil || r2.Revoked == nil || !r2.Revoked.Equal(t1) {
		t.Errorf("second Revoke = %+v, %v", r2, err)
	}

	for _, id := range []string{"01JB8Q6W2Y3V5X7Z9A1C3E5G7K", "", "nonsense\nid"} {
		_, err := s.Revoke(id)
		if !errors.Is(err, ErrNoToken) {
			t.Errorf("Revoke(%q) = %v, want ErrNoToken", id, err)
		} else if !strings.Contains(err.Error(), fmt.Sprintf("%q", id)) {
			t.Errorf("Revoke(%q): error %q does not name the id", id, err)
		}
	}

	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Revoked == nil || !list[0].Revoked.Equal(t1) {
		t.Errorf("List() = %+v", list)
	}
	// List returns copies.
	*list[0].Revoked = time.Time{}
	list, _ = s.List()
	if !list[0].Revoked.Equal(t1) {
		t.Error("changing List's result changed the store")
	}
}

func TestCreateRefused(t *testing.T) {
	path := tokenPath(t)
	s := openStore(t, path, t0)
	_, alice := mustCreate(t, s, "alice", Custodian)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		role Role
		want string
	}{
		{"alice", Auditor, "active token " + alice.ID + " has that name"},
		{"", Auditor, "name is empty"},
		{"bob\n", Auditor, `"bob\n"`},
		{strings.Repeat("b", 65), Auditor, "65 characters"},
		{"bob", "root", `unknown role "root"`},
		{"bob", "", `unknown role ""`},
	}
	for _, c := range cases {
		secret, tok, err := s.Create(c.name, c.role)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%q, %q) = %v, want an error holding %q", c.name, c.role, err, c.want)
		}
		if secret != "" || tok != nil {
			t.Errorf("Create(%q, %q) returned a token", c.name, c.role)
		}
		if taken := c.name == "alice"; errors.Is(err, ErrNameTaken) != taken {
			t.Errorf("Create(%q, %q) = %v: ErrNameTaken %t, want %t", c.name, c.role, err, !taken, taken)
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Errorf("a refused Create changed the file:\n%s", after)
	}

	// Once alice's token is revoked, the name is free again, and names are
	// case-sensitive.
	mustCreate(t, s, "Alice", Custodian)
	if _, err := s.Revoke(alice.ID); err != nil {
		t.Fatal(err)
	}
	secret, _ := mustCreate(t, s, "alice", Auditor)
	if id, err := s.Authenticate(secret); err != nil || id.Role != Auditor {
		t.Errorf("new alice: %v, %v", id, err)
	}
}

// TestTwoStores is the daemon and the CLI: each sees the other's writes.
func TestTwoStores(t *testing.T) {
	path := tokenPath(t)
	daemon := openStore(t, path, t0) // opened before the file exists
	cli := openStore(t, path, t0)

	secret, tok := mustCreate(t, cli, "alice", Discloser)
	id, err := daemon.Authenticate(secret)
	if err != nil {
		t.Fatalf("daemon does not see the CLI's token: %v", err)
	}
	if id.TokenID != tok.ID || id.Role != Discloser {
		t.Errorf("identity = %+v", id)
	}

	secret2, tok2 := mustCreate(t, daemon, "bob", Intake)
	if _, err := cli.Authenticate(secret2); err != nil {
		t.Fatalf("CLI does not see the daemon's token: %v", err)
	}

	if _, err := openStore(t, path, t1).Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	id, err = daemon.Authenticate(secret)
	refused(t, "revoked by another store", id, err)
	if _, err := daemon.Authenticate(secret2); err != nil {
		t.Errorf("bob's token stopped working: %v", err)
	}

	// A Create in one store does not undo a revocation made by another.
	if _, err := daemon.Revoke(tok2.ID); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, cli, "carol", Admin)
	list, err := daemon.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Revoked == nil || list[1].Revoked == nil || list[2].Revoked != nil {
		t.Errorf("List() = %+v", list)
	}
}

// TestConcurrentCreates has two stores on one file create tokens at the
// same time, while others authenticate: the lock keeps every write.
func TestConcurrentCreates(t *testing.T) {
	path := tokenPath(t)
	stores := []*Store{openStore(t, path, t0), openStore(t, path, t0)}
	firstSecret, _ := mustCreate(t, stores[0], "first", Auditor)

	const perStore = 10
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		secrets = map[string]string{} // name → secret
		stop    = make(chan struct{})
		authErr = make(chan error, 4)
	)
	for i, s := range stores {
		wg.Go(func() {
			for j := range perStore {
				name := fmt.Sprintf("user-%d-%d", i, j)
				secret, _, err := s.Create(name, Custodian)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				secrets[name] = secret
				mu.Unlock()
			}
		})
	}
	var readers sync.WaitGroup
	for _, s := range stores {
		for range 2 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := s.Authenticate(firstSecret); err != nil {
						authErr <- err
						return
					}
					if _, err := s.List(); err != nil {
						authErr <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(authErr)
	for err := range authErr {
		t.Errorf("a reader failed during the writes: %v", err)
	}

	if len(secrets) != 2*perStore {
		t.Fatalf("%d creates succeeded, want %d", len(secrets), 2*perStore)
	}
	list, err := openStore(t, path, t1).List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2*perStore+1 {
		t.Errorf("the file holds %d tokens, want %d", len(list), 2*perStore+1)
	}
	for name, secret := range secrets {
		for i, s := range stores {
			if id, err := s.Authenticate(secret); err != nil || id.Name != name {
				t.Errorf("store %d: %s: %v, %v", i, name, id, err)
			}
		}
	}
}

// rewrite changes alice's hash in the token file to that of another
// secret, keeping the size. With inPlace it writes over the file (same
// inode); otherwise it renames a new file over it (a new inode). It sets
// the modification time to mtime.
func rewrite(t *testing.T, path string, inPlace bool, mtime time.Time) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := parseTokens(data)
	if err != nil {
		t.Fatal(err)
	}
	h := []byte(tokens[0].Hash)
	h[0] ^= 1 // '0'..'9' and 'a'..'f' stay hex digits of one length
	if h[0] > 'f' || (h[0] > '9' && h[0] < 'a') {
		h[0] = '0'
	}
	tokens[0].Hash = string(h)
	out, err := formatTokens(tokens)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(data) || bytes.Equal(out, data) {
		t.Fatal("rewrite changed the size, or nothing")
	}
	target := path
	if !inPlace {
		target = path + ".new"
	}
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(out, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(target, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if !inPlace {
		if err := os.Rename(target, path); err != nil {
			t.Fatal(err)
		}
	}
}

func mtimeOf(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

// TestReload checks each part of the change check alone: an edit that
// keeps size, inode and modification time is not seen (the cache is
// used), one that changes only the modification time or only the inode is.
func TestReload(t *testing.T) {
	tests := []struct {
		name    string
		inPlace bool
		mtime   func(old time.Time) time.Time
		seen    bool
	}{
		{"same size, inode and mtime: cached", true, func(old time.Time) time.Time { return old }, false},
		{"only the mtime changes", true, func(old time.Time) time.Time { return old.Add(time.Second) }, true},
		{"only the inode changes", false, func(old time.Time) time.Time { return old }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tokenPath(t)
			s := openStore(t, path, t0)
			secret, _ := mustCreate(t, s, "alice", Custodian)
			if _, err := s.Authenticate(secret); err != nil {
				t.Fatal(err)
			}
			rewrite(t, path, tt.inPlace, tt.mtime(mtimeOf(t, path)))
			id, err := s.Authenticate(secret)
			if tt.seen {
				refused(t, "after the change", id, err)
			} else if err != nil {
				t.Errorf("the store read an unchanged-looking file again: %v", err)
			}
			// A store opened now always sees the change.
			id, err = openStore(t, path, t0).Authenticate(secret)
			refused(t, "fresh store", id, err)
		})
	}
}

func TestMissingFile(t *testing.T) {
	path := tokenPath(t)
	s := openStore(t, path, t0)
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Errorf("List() = %v, %v", list, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenStore created the file: %v", err)
	}
	secret, _ := mustCreate(t, s, "alice", Admin)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	id, err := s.Authenticate(secret)
	refused(t, "file removed", id, err)

	if _, err := OpenStore(filepath.Join(t.TempDir(), "no", "such", "dir", "tokens.json"), nil); err != nil {
		t.Errorf("missing directory: %v", err)
	}
}

func TestMalformedFile(t *testing.T) {
	const tok = `{"id": "01JB8Q6W2Y3V5X7Z9A1C3E5G7K", "name": "alice", "role": "custodian", "sha256": "` +
		`9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "created": "2026-03-01T09:30:00Z"}`
	const tok2 = `{"id": "01JB8Q6W2Y3V5X7Z9A1C3E5G7M", "name": "alice", "role": "auditor", "sha256": "` +
		`9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "created": "2026-03-01T09:30:00Z"}`
	tests := []struct{ name, data, want string }{
		{"empty", ``, "EOF"},
		{"not json", `tokens`, "invalid character"},
		{"truncated", `{"v": 1, "tokens": [` + tok, "EOF"},
		{"trailing data", `{"v": 1, "tokens": []} {}`, "data after"},
		{"no version", `{"tokens": []}`, "version 0"},
		{"future version", `{"v": 2, "tokens": []}`, "version 2"},
		{"no tokens", `{"v": 1}`, `no "tokens"`},
		{"unknown field", `{"v": 1, "tokens": [], "secret": "x"}`, "unknown field"},
		{"token field unknown", `{"v": 1, "tokens": [` + strings.Replace(tok, `"name"`, `"secret": "x", "name"`, 1) + `]}`, "unknown field"},
		{"bad id", `{"v": 1, "tokens": [` + strings.Replace(tok, "01JB8Q6W2Y3V5X7Z9A1C3E5G7K", "0123", 1) + `]}`, `id "0123"`},
		{"lower-case id", `{"v": 1, "tokens": [` + strings.Replace(tok, "01JB8Q6W2Y3V5X7Z9A1C3E5G7K", "01jb8q6w2y3v5x7z9a1c3e5g7k", 1) + `]}`, "upper-case ULID"},
		{"bad name", `{"v": 1, "tokens": [` + strings.Replace(tok, `"alice"`, `"al\nice"`, 1) + `]}`, `"al\nice"`},
		{"bad role", `{"v": 1, "tokens": [` + strings.Replace(tok, `"custodian"`, `"root"`, 1) + `]}`, `unknown role "root"`},
		{"short hash", `{"v": 1, "tokens": [` + strings.Replace(tok, `9f86`, ``, 1) + `]}`, "64 hex"},
		{"upper-case hash", `{"v": 1, "tokens": [` + strings.Replace(tok, `9f86d`, `9F86D`, 1) + `]}`, "lower-case hex"},
		{"no created", `{"v": 1, "tokens": [` + strings.Replace(tok, `"2026-03-01T09:30:00Z"`, `"0001-01-01T00:00:00Z"`, 1) + `]}`, "no creation time"},
		{"duplicate id", `{"v": 1, "tokens": [` + tok + `, ` + tok + `]}`, "appears twice"},
		{"two active alices", `{"v": 1, "tokens": [` + tok + `, ` + tok2 + `]}`, `both active and named "alice"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tokenPath(t)
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenStore(path, nil)
			if err == nil {
				t.Fatal("OpenStore succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %s and hold %q", err, path, tt.want)
			}
		})
	}

	// The same file with the second alice revoked is well formed.
	ok := `{"v": 1, "tokens": [` + tok + `, ` + strings.Replace(tok2, `}`, `, "revoked": "2026-03-02T00:00:00Z"}`, 1) + `]}`
	path := tokenPath(t)
	if err := os.WriteFile(path, []byte(ok), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(path, nil); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedWhileOpen: a file damaged after the store was opened fails
// closed, and changes are refused rather than written over it.
func TestDamagedWhileOpen(t *testing.T) {
	path := tokenPath(t)
	s := openStore(t, path, t0)
	secret, _ := mustCreate(t, s, "alice", Custodian)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := append(bytes.Clone(good), "garbage"...)
	if err := os.WriteFile(path, bad, 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := s.Authenticate(secret); err == nil || errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), path) {
		t.Errorf("Authenticate = %v, want an error naming %s", err, path)
	}
	if _, err := s.List(); err == nil {
		t.Error("List succeeded")
	}
	if _, _, err := s.Create("bob", Auditor); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Create = %v, want an error naming %s", err, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
		t.Error("Create wrote over a damaged file")
	}

	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(secret); err != nil {
		t.Errorf("after the repair: %v", err)
	}
}

func FuzzAuthenticate(f *testing.F) {
	path := filepath.Join(f.TempDir(), "tokens.json")
	s, err := OpenStore(path, clock(t0))
	if err != nil {
		f.Fatal(err)
	}
	secret, tok, err := s.Create("alice", Custodian)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(secret)
	f.Add(secret[:len(secret)-1] + "a")
	f.Add("custos_" + tok.ID + "_")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		id, err := s.Authenticate(in)
		if in == secret {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
		if err != ErrUnauthenticated || id != nil { // the very error
			t.Fatalf("Authenticate(%q) = %v, %v", in, id, err)
		}
	})
}
