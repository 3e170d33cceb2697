package capture

import (
	"testing"

	"github.com/custos-evidence/custos/agent/order"
)

func TestSourceSelectorsKeepTypeAndValue(t *testing.T) {
	s, err := order.ParseSelector("ip:[2001:db8::7]:443@2026-11-20T10:00:00+01:00")
	if err != nil {
		t.Fatal(err)
	}
	src := sourceSelectors([]order.Selector{s})
	if len(src) != 1 || src[0].Type != "ip" || src[0].Value != s.Value {
		t.Errorf("source selectors %+v", src)
	}
}
