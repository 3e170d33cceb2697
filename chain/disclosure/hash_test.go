package disclosure

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"math/rand/v2"
	"testing"
	"testing/fstest"
)

// Files of every size around the chunk boundaries hash as crypto/sha256
// and crypto/sha512 hash them, through the one-read, two-hash pipeline,
// with the hasher's buffers reused from file to file.
func TestHashPayloadSizes(t *testing.T) {
	sizes := []int{0, 1, hashChunk - 1, hashChunk, hashChunk + 1, 2 * hashChunk, chunksPerFile * hashChunk,
		chunksPerFile*hashChunk + 1, 3*chunksPerFile*hashChunk + 12345}
	rng := rand.New(rand.NewPCG(1, 2))
	fsys := fstest.MapFS{}
	var paths []string
	want := map[string]fileSums{}
	for _, n := range sizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		p := "data/f" + hex.EncodeToString([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		fsys[p] = &fstest.MapFile{Data: b}
		paths = append(paths, p)
		s256, s512 := sha256.Sum256(b), sha512.Sum512(b)
		want[p] = fileSums{sha256: hex.EncodeToString(s256[:]), sha512: hex.EncodeToString(s512[:]), size: int64(n)}
	}
	for range 3 { // again, with the buffers of the runs before
		got, err := hashPayload(context.Background(), fsys, paths)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			if got[p] != want[p] {
				t.Fatalf("%s (%d bytes): got %+v, want %+v", p, want[p].size, got[p], want[p])
			}
		}
	}
}

func TestHashPayloadCancelled(t *testing.T) {
	fsys := fstest.MapFS{"data/big": &fstest.MapFile{Data: make([]byte, 3*chunksPerFile*hashChunk)}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := hashPayload(ctx, fsys, []string{"data/big"}); err == nil {
		t.Fatal("a cancelled hash returns no error")
	}
}
