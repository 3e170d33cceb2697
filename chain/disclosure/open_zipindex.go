package disclosure

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// maxZipIndexBytes bounds the names, extra fields and comments of a zip's
// central directory, which archive/zip holds in memory all at once. A
// package of a million entries with names of 200 bytes stays well below.
const maxZipIndexBytes = 256 << 20

var errZipFormat = errors.New("zip: not a valid zip file")

// zipIndex counts the records of the zip's central directory without
// holding them, and refuses a zip with more than MaxEntries or with more
// than maxZipIndexBytes of names and fields, before archive/zip reads
// them all into memory. The count comes from the records themselves:
// archive/zip reads records until one does not parse, whatever number the
// end record claims. The directory is found as archive/zip finds it; where
// archive/zip may start at either of two offsets, both are counted.
func (x *extractor) zipIndex(r io.ReaderAt, size int64) error {
	starts, err := zipDirectoryStarts(r, size)
	if err != nil {
		return x.readErr(x.archive, err)
	}
	for _, start := range starts {
		if err := x.zipCount(io.NewSectionReader(r, start, size-start)); err != nil {
			return err
		}
	}
	return nil
}

// zipCount counts the central directory records at the start of r.
func (x *extractor) zipCount(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var records, fields int64
	var hdr [46]byte
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			break
		}
		if binary.LittleEndian.Uint32(hdr[:]) != 0x02014b50 {
			break
		}
		n := int64(binary.LittleEndian.Uint16(hdr[28:])) + int64(binary.LittleEndian.Uint16(hdr[30:])) +
			int64(binary.LittleEndian.Uint16(hdr[32:]))
		if _, err := br.Discard(int(n)); err != nil {
			break
		}
		records++
		fields += n
		if records > int64(x.opts.MaxEntries) {
			return tamper(x.archive, noIndex, "more than %d entries (limit MaxEntries)", x.opts.MaxEntries)
		}
		if fields > maxZipIndexBytes {
			return tamper(x.archive, noIndex, "the zip's central directory holds more than %d bytes of names and fields", maxZipIndexBytes)
		}
	}
	return nil
}

// zipDirectory is where a zip's structures lie, as archive/zip finds
// them: the end of central directory record, the zip64 end record (or
// -1), and the central directory's offset and size as the end records
// state them, with the base offset of data prepended to the zip.
type zipDirectory struct {
	end, zip64End   int64
	base            int64
	dirOff, dirSize int64
	commentLen      int64
}

// zipDirectoryStarts finds where archive/zip starts reading the central
// directory: base+dirOff, and dirOff too when data was prepended to the
// zip (archive/zip may start at either).
func zipDirectoryStarts(r io.ReaderAt, size int64) ([]int64, error) {
	d, err := findZipDirectory(r, size)
	if err != nil {
		return nil, err
	}
	starts := []int64{d.base + d.dirOff}
	if d.base > 0 && d.dirOff < size {
		starts = append(starts, d.dirOff)
	}
	return starts, nil
}

// findZipDirectory follows archive/zip's readDirectoryEnd: the end record
// in the last 1 KiB or 65 KiB, the zip64 end record if its locator is
// there, and the base offset of data prepended to the zip.
func findZipDirectory(r io.ReaderAt, size int64) (*zipDirectory, error) {
	var buf []byte
	end := int64(-1)
	for _, n := range []int64{1024, 65 * 1024} {
		n = min(n, size)
		buf = make([]byte, n)
		if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
			return nil, err
		}
		if p := zipFindEnd(buf); p >= 0 {
			buf, end = buf[p:], size-n+int64(p)
			break
		}
		if n == size {
			break
		}
	}
	if end < 0 {
		return nil, errZipFormat
	}
	d := &zipDirectory{end: end, zip64End: -1, commentLen: int64(binary.LittleEndian.Uint16(buf[20:]))}
	records := binary.LittleEndian.Uint16(buf[10:])
	dirSize := uint64(binary.LittleEndian.Uint32(buf[12:]))
	dirOff := uint64(binary.LittleEndian.Uint32(buf[16:]))
	dirEnd := end
	if records == 0xffff || dirSize == 0xffff || dirOff == 0xffffffff {
		p, err := zip64End(r, end)
		if err != nil {
			return nil, err
		}
		if p >= 0 {
			if p > size-56 {
				return nil, errZipFormat
			}
			var rec [56]byte
			if _, err := r.ReadAt(rec[:], p); err != nil {
				return nil, err
			}
			if binary.LittleEndian.Uint32(rec[:]) != 0x06064b50 {
				return nil, errZipFormat
			}
			dirEnd, dirSize, dirOff = p, binary.LittleEndian.Uint64(rec[40:]), binary.LittleEndian.Uint64(rec[48:])
			d.zip64End = p
		}
	}
	if dirSize > 1<<63-1 || dirOff > 1<<63-1 {
		return nil, errZipFormat
	}
	d.dirSize, d.dirOff = int64(dirSize), int64(dirOff)
	d.base = dirEnd - d.dirSize - d.dirOff
	if start := d.base + d.dirOff; start < 0 || start >= size {
		return nil, errZipFormat
	}
	return d, nil
}

// zipFindEnd finds the end of central directory record in b, as
// archive/zip does: the last signature whose comment fits in b.
func zipFindEnd(b []byte) int {
	for i := len(b) - 22; i >= 0; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 0x05 && b[i+3] == 0x06 {
			if n := int(binary.LittleEndian.Uint16(b[i+20:])); n+22+i > len(b) {
				return -1
			}
			return i
		}
	}
	return -1
}

// zip64End returns the offset of the zip64 end record named by the
// locator just before the end record at end, or -1 if there is none.
func zip64End(r io.ReaderAt, end int64) (int64, error) {
	if end < 20 {
		return -1, nil
	}
	var loc [20]byte
	if _, err := r.ReadAt(loc[:], end-20); err != nil {
		return -1, err
	}
	if binary.LittleEndian.Uint32(loc[:]) != 0x07064b50 || binary.LittleEndian.Uint32(loc[4:]) != 0 ||
		binary.LittleEndian.Uint32(loc[16:]) != 1 {
		return -1, nil
	}
	p := binary.LittleEndian.Uint64(loc[8:])
	if p > 1<<63-1 {
		return 0, errZipFormat
	}
	return int64(p), nil
}
