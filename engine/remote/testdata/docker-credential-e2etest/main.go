// Command docker-credential-e2etest is a docker credential helper for
// tests: `get` answers with the credentials that <executable>.json (next
// to the binary) holds for the server URL read from stdin, as
// {"<server>": {"Username": "...", "Secret": "..."}}, and each request is
// appended to <executable>.log when that can be written. Installed under
// another name it answers the same, so a test can tell which helper ran.
// It builds with CGO_ENABLED=0 into a static binary that runs in the
// executor image.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

type creds struct {
	ServerURL string
	Username  string
	Secret    string
}

func main() {
	if err := run(); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: %s get|store|erase|list", filepath.Base(os.Args[0]))
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the executable: %w", err)
	}
	server := strings.TrimSpace(string(in))
	if f, err := os.OpenFile(exe+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "%s %s %s\n", filepath.Base(os.Args[0]), os.Args[1], server)
		f.Close()
	}
	switch os.Args[1] {
	case "get":
	case "list":
		fmt.Println("{}")
		return nil
	case "store", "erase":
		return nil
	default:
		return fmt.Errorf("unknown command %q", os.Args[1])
	}
	data, err := os.ReadFile(exe + ".json")
	if err != nil {
		return fmt.Errorf("reading credentials: %w", err)
	}
	all := map[string]creds{}
	if err := json.Unmarshal(data, &all); err != nil {
		return fmt.Errorf("reading credentials: %w", err)
	}
	c, ok := all[server]
	if !ok {
		// What docker's client takes for "no credentials".
		fmt.Println("credentials not found in native keychain")
		os.Exit(1)
	}
	c.ServerURL = server
	return json.NewEncoder(os.Stdout).Encode(c)
}
