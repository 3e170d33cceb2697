package capture

import (
	"errors"
	"strings"
	"testing"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"
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

func TestCatalogSelectsTheSourcesOfAnOrder(t *testing.T) {
	dir := t.TempDir()
	mail := source.Config{Name: "mail", Type: "dir", Categories: []string{"content"}, Params: map[string]any{"root": dir}}
	subs := source.Config{Name: "subscribers", Type: "dir", Categories: []string{"subscriber"}, Params: map[string]any{"root": dir}}
	exports := source.Config{Name: "exports", Type: "dir", Params: map[string]any{"root": dir}}
	content := &order.Order{Categories: []order.Category{order.CategoryContent, order.CategoryTraffic}}
	errS3 := errors.New("no S3 server configured")
	cat := Catalog{Configured: []source.Config{mail, subs, exports}, S3: func(map[string]any) error { return errS3 }}
	tests := []struct {
		name    string
		cat     Catalog
		order   *order.Order // content unless set
		names   []string
		want    string // the sources chosen, "name:categories" joined by spaces
		wantErr string
		is      error
	}{
		{name: "serving the order", cat: cat, want: "mail:content exports:content,traffic"},
		{name: "named", cat: cat, names: []string{"subscribers", "mail"}, want: "subscribers:subscriber mail:content"},
		{name: "ad-hoc file URI, no category", cat: cat, names: []string{"file://" + dir}, wantErr: "give --category (one of content,traffic)"},
		{name: "ad-hoc file URI", cat: withCategory(cat, "traffic"), names: []string{"file://" + dir}, want: "file://" + dir + ":traffic"},
		{name: "ad-hoc, a category not the order's", cat: withCategory(cat, "subscriber"), names: []string{"file://" + dir},
			wantErr: `--category "subscriber": not one of the order's categories (content,traffic)`},
		{name: "category without an ad-hoc source", cat: withCategory(cat, "content"), names: []string{"mail"}, wantErr: "none is given"},
		{name: "ad-hoc, the order's one category", cat: cat, order: &order.Order{Categories: []order.Category{order.CategoryTraffic}},
			names: []string{"file://" + dir}, want: "file://" + dir + ":traffic"},
		{name: "none serving", cat: Catalog{Configured: []source.Config{subs}},
			wantErr: "capture: no configured source serves the order's categories (content,traffic); configure sources: or give --source NAME|URI"},
		{name: "unknown name", cat: cat, names: []string{"mial"},
			wantErr: `capture: --source "mial": no such configured source (configured: exports, mail, subscribers) and not a URI`},
		{name: "bad URI", cat: cat, names: []string{"ftp://host/x"}, wantErr: "capture: --source: "},
		{name: "s3 without a server", cat: Catalog{}, names: []string{"s3://bucket/x"}, wantErr: "no S3 server"},
		{name: "s3 refused by the caller", cat: cat, names: []string{"s3://bucket/x"}, is: errS3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := content
			if tt.order != nil {
				o = tt.order
			}
			srcs, err := tt.cat.Select(o, tt.names)
			switch {
			case tt.is != nil:
				if !errors.Is(err, tt.is) {
					t.Fatalf("error %v, want %v", err, tt.is)
				}
				return
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			var got []string
			for _, s := range srcs {
				got = append(got, s.Name+":"+strings.Join(s.Categories, ","))
			}
			if strings.Join(got, " ") != tt.want {
				t.Fatalf("chose %q, want %q", strings.Join(got, " "), tt.want)
			}
		})
	}
}

func withCategory(c Catalog, cat string) Catalog {
	c.AdHocCategory = cat
	return c
}
