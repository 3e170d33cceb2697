package datadir

import (
	"io/fs"
	"os"
	"path/filepath"
)

// TempPrefix starts the name of every temporary file WriteFile and
// WriteNew create; a file so named that is left in a directory is the
// leftover of an interrupted write.
const TempPrefix = ".tmp-"

// WriteFile replaces path with data, durably: a temporary file in the same
// directory with mode perm, synced, renamed over path, and the directory
// synced. A reader sees the old file or the new one, never part of either.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return place(path, data, perm, os.Rename)
}

// WriteNew creates path with data, durably, and never replaces a file
// already there: it fails with an error matching fs.ErrExist instead. The
// file appears whole or not at all.
func WriteNew(path string, data []byte, perm os.FileMode) error {
	return place(path, data, perm, func(tmp, path string) error {
		if err := os.Link(tmp, path); err != nil {
			return err
		}
		return os.Remove(tmp)
	})
}

// place writes data to a synced temporary file beside path, moves it into
// place with move, and syncs the directory.
func place(path string, data []byte, perm os.FileMode, move func(tmp, path string) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := move(tmp, path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes the entries of dir (a rename, a new file) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// SyncTree syncs every directory under root, so the files synced into
// them stay reachable after a crash.
func SyncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return SyncDir(p)
	})
}
