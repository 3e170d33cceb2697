package agent

import (
	"context"
	"testing"

	"github.com/custos-evidence/custos/chain"
)

// confirmRequester records a confirmed check of order id's requester, as
// every disclosure needs, unless the newest check already confirmed it.
func confirmRequester(t testing.TB, reg *Registry, id string) {
	t.Helper()
	ctx := context.Background()
	v, err := reg.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if q := v.State.Requester; q != nil && q.Confirmed {
		return
	}
	if _, err := reg.VerifyRequester(ctx, id, RequesterVerification{Method: chain.MethodCallback, Confirmed: true,
		Note: "called the authority back on its published number", Actor: "custodian"}); err != nil {
		t.Fatalf("verify requester of %s: %v", id, err)
	}
}
