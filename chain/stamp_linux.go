package chain

import (
	"io/fs"
	"syscall"
)

// changeStamp returns a file's change time (which no user call can set
// back) and inode number, as far as the file system gives them.
func changeStamp(fi fs.FileInfo) (ctime int64, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}
	return st.Ctim.Nano(), st.Ino
}
