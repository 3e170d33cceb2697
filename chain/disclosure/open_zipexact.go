package disclosure

import (
	"archive/zip"
	"cmp"
	"encoding/binary"
	"io"
	"slices"
)

// One rule for every form a package arrives in (issue 18 item 2): the
// file received is exactly one archive, every byte of it part of the
// archive's structure. A tar may be followed by zeros only (its record
// padding); an age file ends where its last chunk does (age refuses
// anything after it); and a zip is its entries, each a local header, its
// data and its data descriptor, one after the other from the first byte,
// then its central directory and end records, without a comment, up to
// the last byte. Bytes anywhere else are seen by some zip readers and not
// by others (data prepended to a zip, or a second archive appended to
// it), so a package holding them is refused as altered.

// Signatures of the zip structures.
const (
	zipLocalSig      = 0x04034b50
	zipDescriptorSig = 0x08074b50
	zip64LocatorLen  = 20
)

// zipExact checks that the zip r of size bytes holds nothing but files,
// the central directory and its end records.
func (x *extractor) zipExact(r io.ReaderAt, size int64, files []*zip.File) error {
	d, err := findZipDirectory(r, size)
	if err != nil {
		return x.readErr(x.archive, err)
	}
	outside := func(off int64, what string) error {
		return tamper(x.archive, noIndex, "bytes at offset %d that are not part of the zip's entries (%s): refused, as other zip readers may see other files", off, what)
	}
	if d.commentLen != 0 {
		return outside(d.end+22, "a zip comment")
	}
	if d.base != 0 {
		return outside(0, "data before the first entry")
	}
	spans := make([]zipSpan, 0, len(files))
	for _, f := range files {
		off, err := f.DataOffset()
		if err != nil {
			return x.readErr(f.Name, err)
		}
		spans = append(spans, zipSpan{off, int64(f.CompressedSize64), f.Flags&0x8 != 0})
	}
	slices.SortFunc(spans, func(a, b zipSpan) int { return cmp.Compare(a.data, b.data) })
	var pos int64
	for i, s := range spans {
		var hdr [30]byte
		if _, err := r.ReadAt(hdr[:], pos); err != nil || binary.LittleEndian.Uint32(hdr[:]) != zipLocalSig {
			return outside(pos, "where an entry's header must begin")
		}
		if pos+30+int64(binary.LittleEndian.Uint16(hdr[26:]))+int64(binary.LittleEndian.Uint16(hdr[28:])) != s.data {
			return outside(pos, "not the header of the entry whose data follows: data before or between entries")
		}
		pos = s.data + s.size
		next := d.dirOff
		if i+1 < len(spans) {
			next = -1 // a local header, found by its signature
		}
		if s.descriptor {
			pos = zipSkipDescriptor(r, pos, next)
		}
	}
	if pos != d.dirOff {
		return outside(pos, "between the last entry and the central directory")
	}
	pos = d.dirOff + d.dirSize
	if d.zip64End >= 0 {
		if d.zip64End != pos {
			return outside(pos, "after the central directory")
		}
		var rec [12]byte
		if _, err := r.ReadAt(rec[:], pos); err != nil {
			return x.readErr(x.archive, err)
		}
		pos += 12 + int64(binary.LittleEndian.Uint64(rec[4:]))
		pos += zip64LocatorLen
	}
	if pos != d.end {
		return outside(pos, "after the central directory")
	}
	if d.end+22 != size {
		return outside(d.end+22, "data after the end of the zip")
	}
	return nil
}

// zipSpan is one entry's data: where it begins in the zip, its stored
// size, and whether a data descriptor follows it.
type zipSpan struct {
	data, size int64
	descriptor bool
}

// zipSkipDescriptor returns where the entry whose data ends at pos and
// which has a data descriptor ends. A descriptor holds an
// optional signature, the CRC-32 and both sizes (4 or 8 bytes each); the
// length taken is the one after which the next structure begins: the
// central directory at next, or (next < 0) another local header. With no
// descriptor found, pos is returned and the caller finds what follows.
func zipSkipDescriptor(r io.ReaderAt, pos, next int64) int64 {
	var sig [4]byte
	if _, err := r.ReadAt(sig[:], pos); err != nil {
		return pos
	}
	start := pos
	if binary.LittleEndian.Uint32(sig[:]) == zipDescriptorSig {
		start += 4
	}
	for _, n := range []int64{12, 20} {
		end := start + n
		if next >= 0 {
			if end == next {
				return end
			}
			continue
		}
		if _, err := r.ReadAt(sig[:], end); err == nil && binary.LittleEndian.Uint32(sig[:]) == zipLocalSig {
			return end
		}
	}
	return pos
}
