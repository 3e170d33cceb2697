package capture

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

// hashChunk is how many bytes the extra hashes take at a time. Handing
// them every small read of the consumer (32 KiB from io.Copy) made the
// reader wait on a goroutine switch per chunk and the hashes barely ran
// alongside it (measured by the capture benchmarks: 5.4 s per GiB at 32 KiB
// chunks, 2.7-3.6 s at 256 KiB).
const hashChunk = 1 << 20

// hashingReader passes reads through while extra hashes (SHA-512, and the
// legacy ones) digest the same bytes in their own goroutines, alongside
// whatever the reader's consumer does with them (the store's SHA-256 and
// write). Bytes read are copied into one of two chunk buffers; a full
// chunk is handed to the hashers, which work on it while the next one
// fills, and it is only reused after they are done with it.
type hashingReader struct {
	r       io.Reader
	hashes  []hash.Hash
	work    []chan []byte
	pending sync.WaitGroup
	once    sync.Once
	n       int64
	bufs    [2][]byte
	cur     int // the buffer being filled
	fill    int // bytes in it
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
	n, err := h.r.Read(p)
	if n > 0 {
		h.n += int64(n)
		h.absorb(p[:n])
	}
	return n, err
}

// absorb copies b into the chunk buffers, handing each full one over.
func (h *hashingReader) absorb(b []byte) {
	for len(b) > 0 {
		if h.bufs[h.cur] == nil {
			h.bufs[h.cur] = make([]byte, hashChunk)
		}
		k := copy(h.bufs[h.cur][h.fill:], b)
		h.fill += k
		b = b[k:]
		if h.fill == hashChunk {
			h.flush()
		}
	}
}

// flush hands the chunk being filled to the hashers once they are done
// with the previous one, and switches to the other buffer.
func (h *hashingReader) flush() {
	if h.fill == 0 {
		return
	}
	h.pending.Wait() // the other buffer is free again
	h.pending.Add(len(h.work))
	for _, ch := range h.work {
		ch <- h.bufs[h.cur][:h.fill]
	}
	h.cur ^= 1
	h.fill = 0
}

// close hashes what is left and stops the hashers; sums may be read
// after it.
func (h *hashingReader) close() {
	h.once.Do(func() {
		h.flush()
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
