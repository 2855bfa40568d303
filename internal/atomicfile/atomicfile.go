// Package atomicfile writes files so that a reader (or a restart after a crash) sees either
// the old content or the new, never a partial file, and so that the file has exactly the
// mode asked for — several of fulcrum's files hold private keys. Standard library only.
package atomicfile

import (
	"errors"
	"os"
)

// Write replaces path with data: it writes a temporary file beside it (created afresh with
// mode, whatever a leftover temporary file had), syncs it and renames it over path.
func Write(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(mode), f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
