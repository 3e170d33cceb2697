package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/custos-evidence/custos/agent/capture"
	"github.com/custos-evidence/custos/agent/jobs"
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
// the event that ended the capture. Items lists every item that failed
// and the first 1,000 of the others; ItemsOmitted counts those it leaves
// out (the order's items, from GET /v1/orders/{id} or custos order show,
// list them all). The counts cover every item.
type CaptureSummary struct {
	Order        string                    `json:"order"`
	Capture      string                    `json:"capture"`
	CutOff       time.Time                 `json:"cut_off"`
	Items        []ItemSummary             `json:"items"`
	ItemsOmitted int                       `json:"items_omitted"`
	Summaries    map[string]source.Summary `json:"summaries"`
	SourceErrors map[string]string         `json:"source_errors"`
	Preserved    int                       `json:"preserved"`
	Duplicates   int                       `json:"already_preserved"`
	Spooled      int                       `json:"spooled"`
	ItemsFailed  int                       `json:"items_failed"`
	Bytes        int64                     `json:"bytes"`
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
	return CaptureSummary{Order: order, Capture: r.ID, CutOff: r.CutOff, Items: items, ItemsOmitted: r.Omitted, Summaries: r.Summaries,
		SourceErrors: srcErrs, Preserved: r.Preserved(), Duplicates: r.Counts.Duplicates, Spooled: r.Counts.Spooled,
		ItemsFailed: r.Counts.Failed, Bytes: r.Counts.Bytes, Failed: r.Failed(), Index: r.Index}
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

// MaxWait is the longest a request waits for its job (?wait=); the
// daemon refuses more.
const MaxWait = 5 * time.Minute

// SubmitCapture queues a capture of order id (POST
// /v1/orders/{id}/captures) and returns its job. With wait above zero
// (at most MaxWait) the answer waits that long for the job to end.
func (c *Client) SubmitCapture(ctx context.Context, id string, req CaptureRequest, wait time.Duration) (*jobs.Job, error) {
	return c.submit(ctx, "/v1/orders/"+url.PathEscape(id)+"/captures", req, wait)
}

// SubmitFixity queues a fixity run over the items of order id (POST
// /v1/orders/{id}/fixity), waiting as SubmitCapture does.
func (c *Client) SubmitFixity(ctx context.Context, id string, wait time.Duration) (*jobs.Job, error) {
	return c.submit(ctx, "/v1/orders/"+url.PathEscape(id)+"/fixity", nil, wait)
}

func (c *Client) submit(ctx context.Context, path string, body any, wait time.Duration) (*jobs.Job, error) {
	var j jobs.Job
	if err := c.call(ctx, "POST", path+waitQuery(wait), body, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Capture runs a capture of order id and waits, as long as it takes, for
// its job to end. The job may have failed: see its State and Error, and
// CaptureResult for what it did.
func (c *Client) Capture(ctx context.Context, id string, req CaptureRequest) (*jobs.Job, error) {
	j, err := c.SubmitCapture(ctx, id, req, MaxWait)
	if err != nil {
		return nil, err
	}
	return c.WaitJob(ctx, j)
}

// Fixity runs a fixity check of order id's items and waits, as long as it
// takes, for its job to end; FixityResult reads its report.
func (c *Client) Fixity(ctx context.Context, id string) (*jobs.Job, error) {
	j, err := c.SubmitFixity(ctx, id, MaxWait)
	if err != nil {
		return nil, err
	}
	return c.WaitJob(ctx, j)
}

// Job is job id (GET /v1/jobs/{id}); with wait above zero (at most
// MaxWait), once it has ended or that long has passed.
func (c *Client) Job(ctx context.Context, id string, wait time.Duration) (*jobs.Job, error) {
	var j jobs.Job
	if err := c.call(ctx, "GET", "/v1/jobs/"+url.PathEscape(id)+waitQuery(wait), nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// WaitJob waits, as long as it takes, for job j to end, and returns it
// as it ended.
func (c *Client) WaitJob(ctx context.Context, j *jobs.Job) (*jobs.Job, error) {
	for !j.State.Terminal() {
		next, err := c.Job(ctx, j.ID, MaxWait)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.ID, err)
		}
		j = next
	}
	return j, nil
}

// Jobs lists the jobs this identity may see, of one order unless order is
// empty (GET /v1/jobs).
func (c *Client) Jobs(ctx context.Context, order string) ([]*jobs.Job, error) {
	path := "/v1/jobs"
	if order != "" {
		path += "?" + url.Values{"order": {order}}.Encode()
	}
	var list []*jobs.Job
	if err := c.call(ctx, "GET", path, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// CancelJob asks for job id to be cancelled (POST /v1/jobs/{id}/cancel).
func (c *Client) CancelJob(ctx context.Context, id string) (*jobs.Job, error) {
	var j jobs.Job
	if err := c.call(ctx, "POST", "/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// CaptureResult is what capture job j did, or nil if it holds no result
// (it failed before it captured anything).
func CaptureResult(j *jobs.Job) (*CaptureSummary, error) {
	if len(j.Result) == 0 || string(j.Result) == "null" {
		return nil, nil
	}
	var sum CaptureSummary
	if err := json.Unmarshal(j.Result, &sum); err != nil {
		return nil, fmt.Errorf("job %s: result: %w", j.ID, err)
	}
	return &sum, nil
}

// FixityResult is the report of fixity job j, or nil if it holds none.
func FixityResult(j *jobs.Job) (*FixityReport, error) {
	if len(j.Result) == 0 || string(j.Result) == "null" {
		return nil, nil
	}
	var rep FixityReport
	if err := json.Unmarshal(j.Result, &rep); err != nil {
		return nil, fmt.Errorf("job %s: result: %w", j.ID, err)
	}
	return &rep, nil
}

// waitQuery is the ?wait= of a request that waits for a job.
func waitQuery(wait time.Duration) string {
	switch {
	case wait <= 0:
		return ""
	case wait%time.Minute == 0:
		return fmt.Sprintf("?wait=%dm", wait/time.Minute)
	case wait%time.Second == 0:
		return fmt.Sprintf("?wait=%ds", wait/time.Second)
	}
	return "?wait=" + wait.String()
}
