package capture

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/custos-evidence/custos/agent/order"
	"github.com/custos-evidence/custos/agent/source"
)

// Catalog is what a capture chooses its sources from: the sources the
// configuration names and, for an ad-hoc s3:// URI, the evidence store's
// S3 server.
type Catalog struct {
	// Configured are the configured sources, each with the data
	// categories it serves (none: every category).
	Configured []source.Config
	// S3, when set, completes the parameters of an ad-hoc s3:// source
	// with the evidence store's S3 server and credentials: the source's
	// bucket lives beside the store's. Without it an s3:// URI is refused.
	S3 func(params map[string]any) error
	// AdHocCategory is the data category the items of an ad-hoc URI are
	// labelled with (what may be disclosed depends on it): one of the
	// order's. It may be left out only when the order names one category.
	AdHocCategory string
}

// Select makes the connectors of a capture of o: those names name, each a
// configured source or an ad-hoc URI (file://, https://, s3://; see
// source.ConfigFromURI), or, with no names, every configured source that
// serves one of o's categories. A configured source that names no
// categories serves, and records with its items, those the order asks
// for; an ad-hoc URI's items are labelled with AdHocCategory, or the
// order's only category. Errors name the source.
func (c Catalog) Select(o *order.Order, names []string) ([]NamedSource, error) {
	byName := map[string]source.Config{}
	for _, sc := range c.Configured {
		byName[sc.Name] = sc
	}
	var chosen []source.Config
	if len(names) == 0 {
		for _, sc := range c.Configured {
			if servesOrder(sc, o) {
				chosen = append(chosen, sc)
			}
		}
		if len(chosen) == 0 {
			return nil, fmt.Errorf("capture: no configured source serves the order's categories (%s); configure sources: or give --source NAME|URI",
				strings.Join(categoryNames(o.Categories), ","))
		}
	}
	if c.AdHocCategory != "" && !slices.ContainsFunc(names, func(n string) bool { _, ok := byName[n]; return !ok }) {
		return nil, fmt.Errorf("capture: --category %s labels an ad-hoc --source URI, and none is given (a configured source's categories are in the configuration)", c.AdHocCategory)
	}
	for _, name := range names {
		if sc, ok := byName[name]; ok {
			chosen = append(chosen, sc)
			continue
		}
		sc, err := c.adHoc(name, byName)
		if err != nil {
			return nil, err
		}
		if sc.Categories, err = c.adHocCategories(o, name); err != nil {
			return nil, err
		}
		chosen = append(chosen, sc)
	}
	out := make([]NamedSource, 0, len(chosen))
	for _, sc := range chosen {
		s, err := source.New(sc)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		cats := sc.Categories
		if len(cats) == 0 {
			cats = append(cats, categoryNames(o.Categories)...)
		}
		out = append(out, NamedSource{Name: sc.Name, Source: s, Categories: cats})
	}
	return out, nil
}

// adHoc makes the configuration of the ad-hoc source uri; byName are the
// configured sources, named when uri is not one.
func (c Catalog) adHoc(uri string, byName map[string]source.Config) (source.Config, error) {
	if !strings.Contains(uri, "://") {
		known := make([]string, 0, len(byName))
		for n := range byName {
			known = append(known, n)
		}
		sort.Strings(known)
		return source.Config{}, fmt.Errorf("capture: --source %q: no such configured source (configured: %s) and not a URI", uri, strings.Join(known, ", "))
	}
	sc, err := source.ConfigFromURI(uri, func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.IsDir()
	})
	if err != nil {
		return source.Config{}, fmt.Errorf("capture: --source: %w", err)
	}
	if sc.Type == "s3" {
		if c.S3 == nil {
			return source.Config{}, fmt.Errorf("capture: --source %q: no S3 server for an s3:// source", uri)
		}
		if err := c.S3(sc.Params); err != nil {
			return source.Config{}, err
		}
	}
	return sc, nil
}

// adHocCategories are the categories the items of the ad-hoc source uri
// are labelled with: AdHocCategory, one of o's, or o's only one.
func (c Catalog) adHocCategories(o *order.Order, uri string) ([]string, error) {
	cats := categoryNames(o.Categories)
	switch {
	case c.AdHocCategory != "" && !slices.Contains(cats, c.AdHocCategory):
		return nil, fmt.Errorf("capture: --category %q: not one of the order's categories (%s)", c.AdHocCategory, strings.Join(cats, ","))
	case c.AdHocCategory != "":
		return []string{c.AdHocCategory}, nil
	case len(cats) == 1:
		return cats, nil
	default:
		return nil, fmt.Errorf("capture: --source %q: give --category (one of %s): the order names more than one data category, and its items are labelled with one in the signed record, which decides what may be disclosed", uri, strings.Join(cats, ","))
	}
}

// servesOrder reports whether a configured source serves one of the
// order's categories; a source that names none serves all.
func servesOrder(sc source.Config, o *order.Order) bool {
	if len(sc.Categories) == 0 {
		return true
	}
	for _, c := range o.Categories {
		if slices.Contains(sc.Categories, string(c)) {
			return true
		}
	}
	return false
}

// NewSpec is the Spec of a capture of o from srcs, of the data that
// existed at cutOff: the order's selectors, categories and time window
// drive the sources; its expiry is the items' retention, its hold their
// legal hold, and its legal basis the authority every event records.
func NewSpec(o *order.Order, srcs []NamedSource, cutOff time.Time) Spec {
	return Spec{
		Order: o.ID, RetainUntil: o.ExpiresAt, LegalHold: o.Status == order.StatusHeld, Legacy: o.LegacyDigests,
		Authority: o.LegalBasis, Sources: srcs,
		Request: source.Request{
			Order: o.ID, Selectors: sourceSelectors(o.Selectors), Categories: categoryNames(o.Categories),
			From: o.Window.From, To: o.Window.To, CutOff: cutOff,
		},
	}
}

func sourceSelectors(sels []order.Selector) []source.Selector {
	out := make([]source.Selector, len(sels))
	for i, s := range sels {
		out[i] = source.Selector{Type: string(s.Type), Value: s.Value}
	}
	return out
}

func categoryNames(cats []order.Category) []string {
	out := make([]string, len(cats))
	for i, c := range cats {
		out[i] = string(c)
	}
	return out
}
