package storagetest

import (
	"context"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/custos-evidence/custos/storage"
)

// View looks at a store from outside it, without opening it (which would
// clean it): the keys it holds whole, sorted, and anything else (a partial
// write, a staging copy, an unfinished upload), named. Crash tests use it
// to see what a killed writer left behind.
type View func(t *testing.T) (keys, leftovers []string)

// LocalView looks at the files of the local store in root.
func LocalView(root string) View {
	return func(t *testing.T) (keys, left []string) {
		t.Helper()
		objects, metas := map[string]bool{}, map[string]bool{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			switch dir, key, _ := strings.Cut(filepath.ToSlash(rel), "/"); {
			case dir == "objects":
				objects[key] = true
			case dir == "meta" && strings.HasSuffix(key, ".json"):
				metas[strings.TrimSuffix(key, ".json")] = true
			default:
				left = append(left, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for k := range objects {
			if metas[k] {
				keys = append(keys, k)
			} else {
				left = append(left, "objects/"+k+" (no metadata)")
			}
		}
		for k := range metas {
			if !objects[k] {
				left = append(left, "meta/"+k+".json (no object)")
			}
		}
		slices.Sort(keys)
		slices.Sort(left)
		return keys, left
	}
}

// S3View looks at every version in the bucket of o. Objects outside
// orders/ are the store's bookkeeping: staged content (.custos-staging/)
// and a marker for each multipart upload in progress (.custos-uploads/),
// naming the key uploaded to; the unfinished uploads of every key a marker
// ever named (the sweep removes the markers) are leftovers too.
func S3View(t testing.TB, o storage.S3Options) View {
	core, err := minio.NewCore(o.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(o.AccessKey, o.SecretKey, ""), Secure: o.TLS, Region: o.Region})
	if err != nil {
		t.Fatal(err)
	}
	bucket := o.Bucket
	named := map[string]bool{}
	return func(t *testing.T) (keys, left []string) {
		t.Helper()
		ctx := context.Background()
		seen := map[string]bool{}
		for oi := range core.Client.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			if oi.Err != nil {
				t.Fatal(oi.Err)
			}
			switch {
			case oi.IsDeleteMarker:
				left = append(left, "a delete marker of "+oi.Key)
			case strings.HasPrefix(oi.Key, "orders/") && !seen[oi.Key]:
				keys = append(keys, oi.Key)
			case strings.HasPrefix(oi.Key, "orders/"):
				left = append(left, "another version of "+oi.Key)
			default:
				left = append(left, oi.Key)
				if strings.HasPrefix(oi.Key, ".custos-uploads/") {
					named[readVersion(t, core, bucket, oi.Key, oi.VersionID)] = true
				}
			}
			seen[oi.Key] = true
		}
		for key := range named {
			for up := range core.ListIncompleteUploads(ctx, bucket, key, true) {
				if up.Err != nil {
					t.Fatal(up.Err)
				}
				if up.Key == key {
					left = append(left, "an unfinished upload of "+key)
				}
			}
		}
		slices.Sort(keys)
		slices.Sort(left)
		return keys, left
	}
}

func readVersion(t *testing.T, core *minio.Core, bucket, key, version string) string {
	t.Helper()
	r, _, _, err := core.GetObject(context.Background(), bucket, key, minio.GetObjectOptions{VersionID: version})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
