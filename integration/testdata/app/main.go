// Command app is the small static program that the demo and the integration
// tests put into a scratch image. It prints what a user checks with docker
// run: a greeting from its config file, its arguments, working directory and
// user, and its environment when asked.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	greeting := "hello from scratch"
	if buf, err := os.ReadFile("cities-service.json"); err == nil {
		var cfg struct{ Greeting string }
		if json.Unmarshal(buf, &cfg) == nil && cfg.Greeting != "" {
			greeting = cfg.Greeting
		}
	}
	fmt.Println(greeting)
	args, _ := json.Marshal(os.Args)
	fmt.Printf("args: %s\n", args)
	wd, _ := os.Getwd()
	fmt.Printf("cwd: %s\n", wd)
	fmt.Printf("uid: %d gid: %d\n", os.Getuid(), os.Getgid())
	for _, a := range os.Args[1:] {
		if a == "--env" {
			env := os.Environ()
			sort.Strings(env)
			fmt.Printf("env: %s\n", strings.Join(env, "|"))
		}
	}
}
