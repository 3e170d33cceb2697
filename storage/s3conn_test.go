package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// writeCounter counts the writes to a connection, and their bytes.
type writeCounter struct {
	net.Conn
	writes, bytes *atomic.Int64
}

func (w writeCounter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	n, err := w.Conn.Write(p)
	w.bytes.Add(int64(n))
	return n, err
}

// TestBodyConn sends request bodies through a transport whose connections
// are bodyConns, as the S3 store's are, to a server that hashes what it
// receives: bytes in memory go in a few writes, and every body arrives
// whole and exact, whether it takes the direct path or not.
func TestBodyConn(t *testing.T) {
	type got struct {
		n   int64
		sum [32]byte
	}
	received := make(chan got, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			t.Error(err)
		}
		var g got
		g.n = n
		copy(g.sum[:], h.Sum(nil))
		received <- g
		if r.Header.Get("X-Answer-Late") != "" {
			// The client's transport reports a body longer than its
			// length once it has sent the length; an answer before that
			// would win the race and hide the refusal (seen under -race).
			time.Sleep(500 * time.Millisecond)
		}
	}))
	defer srv.Close()

	var writes, written atomic.Int64
	d := &net.Dialer{}
	tr := &http.Transport{DialContext: wrapDial(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return writeCounter{c, &writes, &written}, nil
	})}
	defer tr.CloseIdleConnections()

	data := bytes.Repeat([]byte("custos evidence "), 4<<20/16) // 4 MiB
	cases := []struct {
		name     string
		body     func() io.Reader
		length   int64
		want     []byte
		maxWrite int64 // 0: not checked
	}{
		// minio-go hands net/http each part as a *bytes.Reader in an io.NopCloser.
		{"bytes in a NopCloser", func() io.Reader { return io.NopCloser(bytes.NewReader(data)) }, int64(len(data)), data, 4},
		{"bytes", func() io.Reader { return bytes.NewReader(data) }, int64(len(data)), data, 4},
		// A reader with more than the request's length: net/http refuses
		// it after sending the length, and nothing more went.
		{"bytes past the length", func() io.Reader { return io.NopCloser(bytes.NewReader(data)) }, 1 << 20, data[:1<<20], 0},
		{"another reader", func() io.Reader { return strings.NewReader(string(data)) }, int64(len(data)), data, 0},
		{"a reader of unknown length", func() io.Reader { return io.MultiReader(bytes.NewReader(data)) }, -1, data, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPut, srv.URL, c.body())
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = c.length
			if c.length >= 0 && c.length < int64(len(data)) {
				req.Header.Set("X-Answer-Late", "1")
			}
			writes.Store(0)
			written.Store(0)
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			var g got
			select {
			case g = <-received:
			case <-time.After(10 * time.Second):
				t.Fatalf("the server received no request (round trip: %v)", err)
			}
			if c.length >= 0 && c.length < int64(len(data)) {
				if err == nil || !strings.Contains(err.Error(), "with Body length") {
					t.Fatalf("a body longer than its ContentLength: got %v, want net/http's refusal", err)
				}
				if n := written.Load(); n > c.length+8<<10 {
					t.Fatalf("%d bytes went on the connection for a request of length %d", n, c.length)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if g.n != int64(len(c.want)) || g.sum != sha256.Sum256(c.want) {
				t.Fatalf("the server received %d bytes hashing to %x; sent %d bytes hashing to %x", g.n, g.sum, len(c.want), sha256.Sum256(c.want))
			}
			if w := writes.Load(); c.maxWrite > 0 && w > c.maxWrite {
				t.Errorf("%d writes for a body of %d bytes in memory: want at most %d", w, len(c.want), c.maxWrite)
			}
		})
	}
}
