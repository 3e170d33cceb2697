package api

import (
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/source"
)

// CaptureRequest is the body of POST /v1/orders/{id}/captures, and the
// parameters of the capture job it queues.
type CaptureRequest struct {
	// Sources are configured source names; none means every configured
	// source serving the order's categories.
	Sources []string `json:"sources,omitempty"`
	// CutOff is an RFC 3339 time or "now"; empty means the order's receipt.
	CutOff string `json:"cut_off,omitempty"`
}

// CaptureSummary is a capture job's result, and what `custos capture
// --output json` prints: the items preserved, already preserved (Duplicate)
// or not (Error), each source's summary and failure, and the log index of
// the event that ended the capture.
type CaptureSummary struct {
	Order        string                    `json:"order"`
	Capture      string                    `json:"capture"`
	CutOff       time.Time                 `json:"cut_off"`
	Items        []ItemSummary             `json:"items"`
	Summaries    map[string]source.Summary `json:"summaries"`
	SourceErrors map[string]string         `json:"source_errors"`
	Preserved    int                       `json:"preserved"`
	Failed       bool                      `json:"failed"`
	// Index is the log index of the event that ended the capture.
	Index uint64 `json:"index"`
}

// ItemSummary is one item of a CaptureSummary.
type ItemSummary struct {
	Source    string          `json:"source"`
	Name      string          `json:"name"`
	Digests   capture.Digests `json:"digests"`
	Size      int64           `json:"size"`
	Key       string          `json:"key,omitempty"`
	Duplicate bool            `json:"duplicate,omitempty"`
	Spooled   bool            `json:"spooled,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// CaptureSummaryOf gives the report of a capture of order as a
// CaptureSummary.
func CaptureSummaryOf(order string, r *capture.Report) CaptureSummary {
	items := make([]ItemSummary, 0, len(r.Items))
	for _, it := range r.Items {
		is := ItemSummary{Source: it.Source, Name: it.Name, Digests: it.Digests, Size: it.Size, Key: it.Key, Duplicate: it.Duplicate, Spooled: it.Spooled}
		if it.Err != nil {
			is.Error = it.Err.Error()
		}
		items = append(items, is)
	}
	srcErrs := map[string]string{}
	for name, err := range r.SourceErrs {
		srcErrs[name] = err.Error()
	}
	return CaptureSummary{Order: order, Capture: r.ID, CutOff: r.CutOff, Items: items, Summaries: r.Summaries,
		SourceErrors: srcErrs, Preserved: r.Preserved(), Failed: r.Failed(), Index: r.Index}
}

// FixityItem is one item's fixity check in a fixity job's result, as
// `custos fixity --output json` gives it.
type FixityItem struct {
	Order  string `json:"order"`
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	// Unchecked: the item could not be read, and was not judged.
	Unchecked bool `json:"unchecked,omitempty"`
}

// FixityReport is a fixity job's result, as `custos fixity --output json`
// gives it; the fields are in the order their JSON names sort. Checked
// counts the items judged (verified or failed), Failed those missing or
// altered, Unchecked those that could not be read.
type FixityReport struct {
	Checked   int          `json:"checked"`
	Failed    int          `json:"failed"`
	Items     []FixityItem `json:"items"`
	Unchecked int          `json:"unchecked"`
}

// Add records the result of one item, and returns its line.
func (r *FixityReport) Add(res capture.FixityResult) FixityItem {
	fi := FixityItem{Order: res.Item.Order, Key: res.Item.Key, SHA256: res.Item.Digest.SHA256, Bytes: res.Bytes,
		OK: res.Err == nil && res.Unchecked == nil}
	switch {
	case res.Err != nil:
		r.Checked++
		r.Failed++
		fi.Error = res.Err.Error()
	case res.Unchecked != nil:
		r.Unchecked++
		fi.Unchecked, fi.Error = true, "not checked: "+res.Unchecked.Error()
	default:
		r.Checked++
	}
	r.Items = append(r.Items, fi)
	return fi
}

// Merge adds the results of o to r.
func (r *FixityReport) Merge(o *FixityReport) {
	r.Items = append(r.Items, o.Items...)
	r.Checked += o.Checked
	r.Failed += o.Failed
	r.Unchecked += o.Unchecked
}
