package storage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
	"testing/iotest"
)

// readHashed reads as io.ReadFull does, whatever the reader's pieces, and
// its hashes are of exactly the bytes it read.
func TestReadHashed(t *testing.T) {
	data := make([]byte, 3*hashChunk+17)
	for i := range data {
		data[i] = byte(i * 7)
	}
	boom, cut := errors.New("boom"), fmt.Errorf("cut: %w", io.EOF)
	readers := map[string]func([]byte) io.Reader{
		"whole":      func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte":   func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"halves":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data + EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		"error":      func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b), iotest.ErrReader(boom)) },
		// Not an end: the caller fails the put (endOfContent is false).
		"wrapped EOF": func(b []byte) io.Reader {
			return io.MultiReader(bytes.NewReader(b), iotest.ErrReader(cut))
		},
	}
	for name, mk := range readers {
		for _, size := range []int{0, 1, hashChunk, len(data) - 1, len(data), len(data) + 1, 2 * len(data)} {
			src := data[:min(size, len(data))]
			buf := make([]byte, len(data))
			want := make([]byte, len(data))
			wantN, wantErr := io.ReadFull(mk(src), want)
			h, crc := sha256.New(), crc32.NewIEEE()
			n, err := readHashed(mk(src), buf, h, crc)
			if n != wantN || !errors.Is(err, wantErr) && (err != nil || wantErr != nil) {
				t.Fatalf("%s, %d bytes: read %d, %v; io.ReadFull %d, %v", name, size, n, err, wantN, wantErr)
			}
			if !bytes.Equal(buf[:n], want[:wantN]) {
				t.Fatalf("%s, %d bytes: different bytes from io.ReadFull", name, size)
			}
			if got, sum := h.Sum(nil), sha256.Sum256(buf[:n]); !bytes.Equal(got, sum[:]) || crc.Sum32() != crc32.ChecksumIEEE(buf[:n]) {
				t.Fatalf("%s, %d bytes: the hashes are not of the %d bytes read", name, size, n)
			}
		}
	}
}
