package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/custos-evidence/custos/agent"
	"github.com/custos-evidence/custos/chain"
)

// ReplyRequest is the body of POST /v1/orders/{id}/replies: a reply to
// the order's authority (docs/orders.md, "Replies"). Kind is preserved
// or cannot-comply; a cannot-comply reply names an Annex III ground's
// token and may explain it (non-execution must).
type ReplyRequest struct {
	Kind        chain.ReplyKind `json:"kind"`
	Ground      string          `json:"ground,omitempty"`
	Explanation string          `json:"explanation,omitempty"`
}

// Reply is one reply to an order's authority, as POST
// /v1/orders/{id}/replies answers, GET /v1/orders/{id} lists them and
// `custos order reply --output json` prints it: its files are in the
// store under the keys given (orders/<id>/replies/<xml-sha256>.xml, .html
// and .dsse.json: chain.ReplyKey), with the digests its order.replied
// event (at log index LogIndex) names.
type Reply struct {
	Order    string          `json:"order"`
	Number   int             `json:"number"`
	Kind     chain.ReplyKind `json:"kind"`
	Ground   string          `json:"ground,omitempty"`
	LogIndex uint64          `json:"log_index"`
	Time     time.Time       `json:"time,omitzero"`
	Files    []ReplyFile     `json:"files"`
}

// ReplyFile is one file of a reply: the XML, the HTML page, the DSSE
// envelope, in that order.
type ReplyFile struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// NewReply is the reply r just written.
func NewReply(r *agent.ReplyResult) *Reply {
	out := &Reply{Order: r.Order.ID, Number: r.Number, Kind: r.Kind, Ground: r.Ground, LogIndex: r.Index, Time: r.At, Files: []ReplyFile{}}
	for _, f := range r.Files {
		out.Files = append(out.Files, ReplyFile{Key: f.Key, SHA256: f.SHA256})
	}
	return out
}

// loggedReplies lists the replies of order id as its state holds them.
func loggedReplies(id string, rs []agent.LoggedReply) []Reply {
	out := []Reply{}
	for _, r := range rs {
		files, sums := []ReplyFile{}, r.SHA256s()
		for i, ext := range agent.ReplyExts() {
			files = append(files, ReplyFile{Key: chain.ReplyKey(id, r.XMLSHA256, ext), SHA256: sums[i]})
		}
		out = append(out, Reply{Order: id, Number: r.Number, Kind: r.Kind, Ground: r.Ground, LogIndex: r.Index, Time: r.Time, Files: files})
	}
	return out
}

// Reply writes a reply to order id's authority (POST
// /v1/orders/{id}/replies), signed, stored and logged by the daemon.
func (c *Client) Reply(ctx context.Context, id string, req ReplyRequest) (*Reply, error) {
	var r Reply
	if err := c.call(ctx, "POST", "/v1/orders/"+url.PathEscape(id)+"/replies", req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReadReply reads the file name (N.xml, N.html or N.dsse.json, N the
// reply's number, not its store key's name) of a reply of order id (GET
// /v1/orders/{id}/replies/{name}) and checks it against want, its SHA-256
// as the order's detail lists it: the daemon checks it against the log
// too, and a file that differs is tampering.
func (c *Client) ReadReply(ctx context.Context, id, name, want string) ([]byte, error) {
	res, err := c.send(ctx, "GET", "/v1/orders/"+url.PathEscape(id)+"/replies/"+url.PathEscape(name), nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, agent.MaxReplyFile+1))
	if err != nil {
		return nil, fmt.Errorf("reply file %s: %w", name, err)
	}
	if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
		return nil, fmt.Errorf("reply file %s of order %s: the daemon sent content whose sha256 is %x, the log names %s: %w", name, id, got, want, chain.ErrTamper)
	}
	return b, nil
}
