package usage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// wal is the ledger's write-ahead file: frames of
//
//	length (4 bytes) | CRC-32C of seq and record (4) | seq (8) | record JSON
//
// appended a group at a time with one write and, when sync is set, one
// fdatasync. Frames are little-endian. A frame cut short by a crash, or
// one whose checksum does not match, ends the file: nothing after it was
// ever acknowledged.
type wal struct {
	f    *os.File
	path string
	sync bool
	size int64
	buf  []byte
}

const walHeader = 16

// maxWALRecord bounds one frame's record, so a corrupt length cannot make
// the scan allocate gigabytes; records are a few hundred bytes.
const maxWALRecord = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func openWAL(path string, sync bool) (*wal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("usage: open write-ahead file: %w", err)
	}
	return &wal{f: f, path: path, sync: sync}, nil
}

// scan calls fn for each whole frame from the start, in order, and
// leaves the file's size at the end of the last one.
func (w *wal) scan(fn func(seq uint64, record []byte) error) error {
	data, err := io.ReadAll(io.NewSectionReader(w.f, 0, 1<<62))
	if err != nil {
		return fmt.Errorf("usage: read %s: %w", w.path, err)
	}
	off := 0
	for len(data)-off >= walHeader {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n > maxWALRecord || len(data)-off-walHeader < n {
			break
		}
		body := data[off+8 : off+walHeader+n]
		if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[off+4:]) {
			break
		}
		if err := fn(binary.LittleEndian.Uint64(body), body[8:]); err != nil {
			return err
		}
		off += walHeader + n
	}
	w.size = int64(off)
	return nil
}

// append writes recs as one group after the last one.
func (w *wal) append(recs []applyRec) error {
	buf := w.buf[:0]
	for _, a := range recs {
		start := len(buf)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(a.json)))
		buf = append(buf, 0, 0, 0, 0)
		buf = binary.LittleEndian.AppendUint64(buf, a.seq)
		buf = append(buf, a.json...)
		binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(buf[start+8:], castagnoli))
	}
	if cap(buf) <= 1<<20 {
		w.buf = buf
	}
	_, err := w.f.WriteAt(buf, w.size)
	if err == nil && w.sync {
		err = fdatasync(w.f)
	}
	if err != nil {
		// Zero the group's header, so a later group does not follow a
		// torn one.
		if _, zerr := w.f.WriteAt(make([]byte, walHeader), w.size); zerr != nil {
			err = errors.Join(err, zerr)
		}
		return fmt.Errorf("write %s: %w", w.path, err)
	}
	w.size += int64(len(buf))
	return nil
}

// reset starts the file over from its beginning. It neither truncates
// nor syncs: frames left behind, and any that come back after a crash,
// hold sequence numbers bbolt already has, and replay skips them.
func (w *wal) reset() error {
	w.size = 0
	return w.preallocate()
}

// walPrealloc is the size the file is filled to with zeros, so appends
// overwrite blocks the file already has: the file's size and extents do
// not change, so an append needs no filesystem journal commit (which an
// fsync of the bbolt file may be holding) and an fdatasync flushes data
// alone. A zero frame fails its checksum and so ends a scan.
const walPrealloc = 2 * walRotate

func (w *wal) preallocate() error {
	fi, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("usage: %s: %w", w.path, err)
	}
	if n := walPrealloc - fi.Size(); n > 0 {
		if _, err := w.f.WriteAt(make([]byte, n), fi.Size()); err != nil {
			return fmt.Errorf("usage: fill %s: %w", w.path, err)
		}
		if err := fdatasync(w.f); err != nil {
			return fmt.Errorf("usage: fill %s: %w", w.path, err)
		}
	}
	return nil
}

func (w *wal) close() error { return w.f.Close() }
