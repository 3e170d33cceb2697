package agent

import (
	"crypto/md5"  //nolint:gosec // legacy digest, only when an order asks for it
	"crypto/sha1" //nolint:gosec // legacy digest, only when an order asks for it
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"io"
	"sync"
)

// Digests are the content hashes of one item, lower-case hex. SHA-256 is
// the item's address; SHA-512 always accompanies it; MD5 and SHA-1 only
// when an order asks for legacy digests (some tools and courts still
// expect them).
type Digests struct {
	SHA256 string `json:"sha256"`
	SHA512 string `json:"sha512"`
	MD5    string `json:"md5,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
}

// hashingReader passes reads through while extra hashes (SHA-512, and the
// legacy ones) digest each chunk in their own goroutines, so they run
// alongside whatever the reader's consumer does with the same bytes
// (the store's SHA-256 and write). A chunk is handed to the hashers after
// it is read and must be finished before the consumer's buffer is reused,
// that is before the next Read: Read waits for them first.
type hashingReader struct {
	r       io.Reader
	hashes  []hash.Hash
	work    []chan []byte
	pending sync.WaitGroup
	once    sync.Once
	n       int64
}

func newHashingReader(r io.Reader, legacy bool) *hashingReader {
	h := &hashingReader{r: r, hashes: []hash.Hash{sha512.New()}}
	if legacy {
		h.hashes = append(h.hashes, md5.New(), sha1.New()) //nolint:gosec // legacy digests on request
	}
	for _, hh := range h.hashes {
		ch := make(chan []byte)
		h.work = append(h.work, ch)
		go func() {
			for p := range ch {
				hh.Write(p)
				h.pending.Done()
			}
		}()
	}
	return h
}

func (h *hashingReader) Read(p []byte) (int, error) {
	h.pending.Wait() // the previous chunk may live in p
	n, err := h.r.Read(p)
	if n > 0 {
		h.n += int64(n)
		h.pending.Add(len(h.work))
		for _, ch := range h.work {
			ch <- p[:n]
		}
	}
	return n, err
}

// close stops the hashers; sums may be read after it.
func (h *hashingReader) close() {
	h.once.Do(func() {
		h.pending.Wait()
		for _, ch := range h.work {
			close(ch)
		}
	})
}

// sums fills everything but SHA-256 into d; it closes the reader first.
func (h *hashingReader) sums(d *Digests) {
	h.close()
	d.SHA512 = hex.EncodeToString(h.hashes[0].Sum(nil))
	if len(h.hashes) == 3 {
		d.MD5 = hex.EncodeToString(h.hashes[1].Sum(nil))
		d.SHA1 = hex.EncodeToString(h.hashes[2].Sum(nil))
	}
}
