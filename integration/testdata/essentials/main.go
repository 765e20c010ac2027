// Command essentials checks, from inside a scratch image, what the
// --ca-certs, --tzdata, --nonroot and --tmp options put there. It prints one
// line per check and exits 1 on the first failure.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: essentials https URL | tz NAME | id | tmp"))
	}
	switch os.Args[1] {
	case "https":
		res, err := http.Get(os.Args[2])
		if err != nil {
			fail(err)
		}
		res.Body.Close()
		fmt.Println("https", res.StatusCode)
	case "tz":
		loc, err := time.LoadLocation(os.Args[2])
		if err != nil {
			fail(err)
		}
		name, offset := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Zone()
		fmt.Println("tz", name, offset/3600)
	case "id":
		u, err := user.Current()
		if err != nil {
			fail(err)
		}
		fmt.Printf("uid=%d gid=%d user=%s\n", os.Getuid(), os.Getgid(), u.Username)
	case "tmp":
		p := filepath.Join(os.TempDir(), "essentials-check")
		if err := os.WriteFile(p, []byte("ok"), 0o600); err != nil {
			fail(err)
		}
		fmt.Println("wrote", p)
	default:
		fail(fmt.Errorf("unknown check %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Println("error:", err)
	os.Exit(1)
}
