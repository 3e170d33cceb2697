package disclosure

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"io"
	"io/fs"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// hashChunk is the size of one read of a payload file.
const hashChunk = 1 << 20

// chunksPerFile is how many chunks of one file may be in flight between
// the reader and the SHA-512 goroutine.
const chunksPerFile = 4

// fileSums are the digests of one file, lower-case hex, and its size.
type fileSums struct {
	sha256, sha512 string
	size           int64
}

// dualHasher hashes files with SHA-256 and SHA-512 reading each byte once.
// SHA-512 is the slower of the two (about 0.5 GB/s against SHA-256's
// 1.1-1.4 GB/s with SHA-NI), so it runs on a goroutine of its own while the
// reading goroutine computes SHA-256: a file takes about as long as its
// SHA-512 alone. Buffers are reused across files.
type dualHasher struct {
	buffers chan []byte
}

func newDualHasher(workers int) *dualHasher {
	return &dualHasher{buffers: make(chan []byte, workers*chunksPerFile)}
}

func (d *dualHasher) get() []byte {
	select {
	case b := <-d.buffers:
		return b
	default:
		return make([]byte, hashChunk)
	}
}

func (d *dualHasher) put(b []byte) {
	select {
	case d.buffers <- b[:cap(b)]:
	default:
	}
}

// hashFile reads name once and returns its SHA-256, SHA-512 and size.
func (d *dualHasher) hashFile(ctx context.Context, fsys fs.FS, name string) (fileSums, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return fileSums{}, err
	}
	defer f.Close()
	h256, h512 := sha256.New(), sha512.New()
	first := d.get()
	n, err := io.ReadFull(f, first)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		// A small file: one chunk, no goroutine.
		h256.Write(first[:n])
		h512.Write(first[:n])
		d.put(first)
		return sums(h256, h512, int64(n)), nil
	}
	if err != nil {
		d.put(first)
		return fileSums{}, err
	}
	size, err := d.pipeline(ctx, f, first, h256, h512)
	if err != nil {
		return fileSums{}, err
	}
	return sums(h256, h512, size), nil
}

// pipeline hashes first and the rest of r: SHA-256 here, SHA-512 on a
// goroutine that returns each chunk to the free list when done with it.
// A chunk is reused only after both hashes have consumed it, since this
// goroutine finishes its SHA-256 of a chunk before it reads the next.
func (d *dualHasher) pipeline(ctx context.Context, r io.Reader, first []byte, h256, h512 hash.Hash) (int64, error) {
	work := make(chan []byte, chunksPerFile)
	free := make(chan []byte, chunksPerFile) // first, and these:
	for range chunksPerFile - 1 {
		free <- d.get()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range work {
			h512.Write(b)
			free <- b[:cap(b)]
		}
	}()
	var size int64
	var rerr error
	for b := first; ; {
		work <- b
		h256.Write(b)
		size += int64(len(b))
		if len(b) < hashChunk { // io.ReadFull came short: the end
			break
		}
		if rerr = ctx.Err(); rerr != nil {
			break
		}
		b = <-free
		var n int
		n, rerr = io.ReadFull(r, b)
		if rerr == io.ErrUnexpectedEOF {
			rerr = nil
		}
		if n == 0 || rerr != nil {
			free <- b
			if rerr == io.EOF {
				rerr = nil
			}
			break
		}
		b = b[:n]
	}
	close(work)
	<-done
	for range len(free) {
		d.put(<-free)
	}
	return size, rerr
}

func sums(h256, h512 hash.Hash, size int64) fileSums {
	return fileSums{sha256: hex.EncodeToString(h256.Sum(nil)), sha512: hex.EncodeToString(h512.Sum(nil)), size: size}
}

// hashPayload hashes every file of paths, several at a time, and returns
// their sums by path. Any error is an I/O failure or the context's end.
func hashPayload(ctx context.Context, fsys fs.FS, paths []string) (map[string]fileSums, error) {
	workers := runtime.GOMAXPROCS(0)
	d := newDualHasher(workers)
	out := make([]fileSums, len(paths))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i, p := range paths {
		g.Go(func() error {
			s, err := d.hashFile(ctx, fsys, p)
			if err != nil {
				return &pathError{path: p, err: err}
			}
			out[i] = s
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	m := make(map[string]fileSums, len(paths))
	for i, p := range paths {
		m[p] = out[i]
	}
	return m, nil
}

// tagFile is a file of the package outside data/, read whole when it is to
// be parsed (data), hashed in any case.
type tagFile struct {
	data     []byte // nil when not kept or larger than its limit
	tooLarge bool   // larger than the limit for keeping it
	sha256   string
	sha512   string
	size     int64
}

// readTag reads name, keeping at most keep bytes; beyond that it only
// hashes the rest and marks the file too large.
func readTag(fsys fs.FS, name string, keep int64) (*tagFile, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, h512 := sha256.New(), sha512.New()
	both := io.MultiWriter(h, h512)
	t := &tagFile{}
	data, err := io.ReadAll(io.LimitReader(io.TeeReader(f, both), keep+1))
	if err != nil {
		return nil, err
	}
	t.size = int64(len(data))
	if t.size > keep {
		rest, err := io.Copy(both, f)
		if err != nil {
			return nil, err
		}
		t.size += rest
		t.tooLarge = keep > 0
		data = nil
	}
	t.data = data
	t.sha256 = hex.EncodeToString(h.Sum(nil))
	t.sha512 = hex.EncodeToString(h512.Sum(nil))
	return t, nil
}

// pathError is an I/O failure reading one file of the package.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return "read " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// isHex reports whether s is n lower-case hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
