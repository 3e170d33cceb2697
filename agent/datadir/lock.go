package datadir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrLocked matches, through errors.Is, every *LockedError.
var ErrLocked = errors.New("data directory is locked")

// LockedError reports that another process holds a data directory.
type LockedError struct {
	Dir string
	// Reader is true when the holders are readers.
	Reader bool
	// PID is the writer holding the directory, or 0 if unknown.
	PID int
}

func (e *LockedError) Error() string {
	switch {
	case e.Reader:
		return fmt.Sprintf("data directory %s is locked by a reader", e.Dir)
	case e.PID > 0:
		return fmt.Sprintf("data directory %s is locked by pid %d", e.Dir, e.PID)
	default:
		return fmt.Sprintf("data directory %s is locked by another process", e.Dir)
	}
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// DirLock is a held data-directory lock.
type DirLock struct {
	dir       string
	f         *os.File // nil for a reader of a read-only directory
	exclusive bool
}

// Lock takes the lock on dir without waiting: exclusive for a writer,
// shared for a reader. It uses flock(2) on <dir>/lock, so the kernel
// releases the lock when the process dies, however it dies. An exclusive
// holder writes its pid into the file for the error another process gets.
//
// A reader never creates the lock file; where there is none (a directory
// no writer has used, a read-only copy) it proceeds unlocked.
func Lock(dir string, exclusive bool) (*DirLock, error) {
	path := filepath.Join(dir, LockFile)
	var f *os.File
	var err error
	if exclusive {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	} else if f, err = os.Open(path); errors.Is(err, os.ErrNotExist) {
		// A reader writes nothing: without a lock file no writer has
		// ever held the directory, and a read-only copy needs none.
		return &DirLock{dir: dir}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := flock(f, how|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, lockedError(dir, f, exclusive)
		}
		return nil, fmt.Errorf("lock data directory %s: %w", dir, err)
	}
	l := &DirLock{dir: dir, f: f, exclusive: exclusive}
	if exclusive {
		if err := writePID(f); err != nil {
			_ = l.Unlock()
			return nil, fmt.Errorf("lock data directory %s: write pid: %w", dir, err)
		}
	}
	return l, nil
}

// lockedError names the writer holding the lock. A writer that cannot
// have the lock but could share it was kept out by readers, whose pids are
// not recorded.
func lockedError(dir string, f *os.File, exclusive bool) error {
	if exclusive {
		if err := flock(f, syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
			_ = flock(f, syscall.LOCK_UN)
			return &LockedError{Dir: dir, Reader: true}
		}
	}
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	return &LockedError{Dir: dir, PID: pid}
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// flock retries flock(2) when a signal interrupts it.
func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

// Unlock releases the lock. An exclusive holder first clears its pid from
// the file.
func (l *DirLock) Unlock() error {
	if l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	var errs []error
	if l.exclusive {
		errs = append(errs, f.Truncate(0))
	}
	errs = append(errs, flock(f, syscall.LOCK_UN), f.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unlock data directory %s: %w", l.dir, err)
	}
	return nil
}
