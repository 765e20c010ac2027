package atomicfile

import (
	"os"
	"path/filepath"
	"sync"
)

// umask is the process's file mode creation mask, found once by creating
// a file (reading it with syscall.Umask would change it, racing other
// goroutines' creates).
var umask = sync.OnceValue(func() os.FileMode {
	dir, err := os.MkdirTemp("", "scratch-push-umask-")
	if err != nil {
		return 0o022
	}
	defer os.RemoveAll(dir)
	f, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_CREATE|os.O_WRONLY, 0o777)
	if err != nil {
		return 0o022
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0o022
	}
	return 0o777 &^ fi.Mode().Perm()
})
