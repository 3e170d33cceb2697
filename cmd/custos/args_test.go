package main

import (
	"io"
	"slices"
	"strings"
	"testing"
)

func TestReorderArgs(t *testing.T) {
	app := newApp(&globalOptions{stdout: io.Discard, stderr: io.Discard})
	for _, tc := range []struct{ in, want string }{
		{"log prove 3 --out f", "log prove --out f -- 3"},
		{"verify pkg --key k", "verify --key k -- pkg"},
		{"verify . --key-line a+b+c", "verify --key-line a+b+c -- ."},
		{"disclose ID --out p --actor al", "--actor al disclose --out p -- ID"},
		{"order add --reference R --output json", "--output json order add --reference R"},
		{"--key c.pem log show --from 2", "--key c.pem log show --from 2"},
		{"log note --order ID -- --text", "log note --order ID -- --text"},
		{"log note text --consistency=x --nope", "log note --consistency=x --nope -- text"},
		{"log show --data-dir=d --order O", "--data-dir=d log show --order O"},
		{"log prove --help", "log prove --help"},
		{"--help", "--help"},
		{"log frobnicate", "log frobnicate"},
		{"--actor log log note x", "--actor log log note -- x"},
		{"keys generate --no-passphrase --force", "keys generate --no-passphrase --force"},
	} {
		in := append([]string{"custos"}, strings.Fields(tc.in)...)
		want := append([]string{"custos"}, strings.Fields(tc.want)...)
		if got := reorderArgs(app, in).args; !slices.Equal(got, want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.in, got, want)
		}
	}
}
