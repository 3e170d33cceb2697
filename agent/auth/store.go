package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
)

// ErrNoToken is returned, wrapped with the id, by Revoke of an id the store
// does not hold.
var ErrNoToken = errors.New("no such token")

// ErrNameTaken is returned, wrapped, by Create of a name an active token
// already has.
var ErrNameTaken = errors.New("token name taken")

// Token is a stored token. It never holds the secret.
type Token struct {
	// ID is a ULID, also the middle part of the secret.
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Hash is the hex SHA-256 of the whole secret.
	Hash    string     `json:"sha256"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// Store is the token file, tokens.json in the data directory. A Store is
// safe for concurrent use, and other processes may change the file while
// it is open: writes take an flock(2) on <file>.lock and replace the file
// atomically, and every call notices a replaced file.
type Store struct {
	path string
	now  func() time.Time

	mu   sync.Mutex // serialises reloads
	snap atomic.Pointer[snapshot]
}

// snapshot is one parsed version of the token file. It is never changed
// once made.
type snapshot struct {
	stamp  stamp
	tokens []Token
	byID   map[string]entry
}

type entry struct {
	i    int // in tokens
	hash [32]byte
}

// OpenStore opens the token file at path. A missing file is an empty store,
// created by the first Create; a malformed one is an error naming the file.
// now is the clock for creation and revocation times; nil means time.Now.
func OpenStore(path string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{path: path, now: now}
	tokens, st, err := readTokens(path)
	if err != nil {
		return nil, err
	}
	s.snap.Store(newSnapshot(tokens, st))
	return s, nil
}

// Path returns the path of the token file.
func (s *Store) Path() string { return s.path }

func newSnapshot(tokens []Token, st stamp) *snapshot {
	sn := &snapshot{stamp: st, tokens: tokens, byID: make(map[string]entry, len(tokens))}
	for i, t := range tokens {
		h, _ := hashBytes(t.Hash) // checked by parseTokens, or made by Create
		sn.byID[t.ID] = entry{i: i, hash: h}
	}
	return sn
}

// current returns the snapshot of the file as it is now, reading it again
// if it has changed since it was last read.
func (s *Store) current() (*snapshot, error) {
	st, err := statStamp(s.path)
	if err != nil {
		return nil, err
	}
	if sn := s.snap.Load(); sn.stamp.equal(st) {
		return sn, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Another goroutine may have read the new version while this one waited.
	if sn := s.snap.Load(); sn.stamp.equal(st) {
		return sn, nil
	}
	tokens, st, err := readTokens(s.path)
	if err != nil {
		// Fail closed: the change that cannot be read may be a revocation.
		return nil, err
	}
	sn := newSnapshot(tokens, st)
	s.snap.Store(sn)
	return sn, nil
}

// Authenticate returns the identity of a token's secret. A secret that is
// empty, malformed, unknown, wrong or revoked is ErrUnauthenticated, the
// same error for all. A malformed secret is refused before any I/O or
// allocation. Any other error means the token file could not be read (or
// has been damaged); the caller should refuse the request and report it.
func (s *Store) Authenticate(secret string) (*Identity, error) {
	id, ok := secretID(secret)
	if !ok {
		return nil, ErrUnauthenticated
	}
	sn, err := s.current()
	if err != nil {
		return nil, err
	}
	e, ok := sn.byID[id]
	if !ok {
		return nil, ErrUnauthenticated
	}
	sum := sha256.Sum256([]byte(secret))
	t := &sn.tokens[e.i]
	if subtle.ConstantTimeCompare(sum[:], e.hash[:]) != 1 || t.Revoked != nil {
		return nil, ErrUnauthenticated
	}
	return &Identity{Name: t.Name, Role: t.Role, TokenID: t.ID, Method: MethodToken}, nil
}

// List returns every token, revoked ones too, oldest first.
func (s *Store) List() ([]Token, error) {
	sn, err := s.current()
	if err != nil {
		return nil, err
	}
	out := make([]Token, len(sn.tokens))
	for i, t := range sn.tokens {
		out[i] = t.clone()
	}
	return out, nil
}

func (t Token) clone() Token {
	if t.Revoked != nil {
		r := *t.Revoked
		t.Revoked = &r
	}
	return t
}

// Create makes a token and returns its secret, which is not stored and
// cannot be recovered: show it once. The name must pass ValidateName and
// not be the name of another active token.
func (s *Store) Create(name string, role Role) (secret string, t *Token, err error) {
	if err := ValidateName(name); err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	if !role.Valid() {
		return "", nil, fmt.Errorf("create token %q: %w", name, roleError(string(role)))
	}
	now := s.now().Round(0).UTC()
	id, err := ulid.New(ulid.Timestamp(now), rand.Reader)
	if err != nil {
		return "", nil, fmt.Errorf("create token %q: new id: %w", name, err)
	}
	secret, err = newSecret(id.String())
	if err != nil {
		return "", nil, fmt.Errorf("create token %q: %w", name, err)
	}
	sum := sha256.Sum256([]byte(secret))
	nt := Token{ID: id.String(), Name: name, Role: role, Hash: hex.EncodeToString(sum[:]), Created: now}
	err = s.update(func(tokens []Token) ([]Token, error) {
		for _, o := range tokens {
			if o.ID == nt.ID {
				return nil, fmt.Errorf("token id %s is taken", nt.ID)
			}
			if o.Name == name && o.Revoked == nil {
				return nil, fmt.Errorf("active token %s has that name; revoke it or choose another name: %w", o.ID, ErrNameTaken)
			}
		}
		return append(tokens, nt), nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("create token %q: %w", name, err)
	}
	return secret, &nt, nil
}

// Revoke revokes the token with the given id and returns it. Revoking a
// revoked token changes nothing and returns it with its first revocation
// time. An unknown id is ErrNoToken.
func (s *Store) Revoke(id string) (*Token, error) {
	var out Token
	err := s.update(func(tokens []Token) ([]Token, error) {
		i := slices.IndexFunc(tokens, func(t Token) bool { return t.ID == id })
		if i < 0 {
			return nil, ErrNoToken
		}
		if tokens[i].Revoked != nil {
			out = tokens[i].clone()
			return nil, nil
		}
		now := s.now().Round(0).UTC()
		tokens[i].Revoked = &now
		out = tokens[i].clone()
		return tokens, nil
	})
	if err != nil {
		return nil, fmt.Errorf("revoke token %q: %w", id, err)
	}
	return &out, nil
}

// update is a read-modify-write of the token file under its lock. change
// gets a copy of the tokens it may change; it returns the new list, or nil
// for no change.
func (s *Store) update(change func([]Token) ([]Token, error)) error {
	unlock, err := lockExclusive(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("lock token store: %w", err)
	}
	defer unlock()
	tokens, _, err := readTokens(s.path)
	if err != nil {
		return err
	}
	tokens, err = change(tokens) // readTokens returned a fresh slice
	if err != nil || tokens == nil {
		return err
	}
	data, err := formatTokens(tokens)
	if err != nil {
		return err
	}
	st, err := writeFileAtomic(s.path, data)
	if err != nil {
		return fmt.Errorf("write token store %s: %w", s.path, err)
	}
	s.mu.Lock()
	s.snap.Store(newSnapshot(tokens, st))
	s.mu.Unlock()
	return nil
}
