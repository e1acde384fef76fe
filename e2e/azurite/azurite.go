// Package azurite starts Azurite's Blob service, Microsoft's Azure Storage
// emulator (npm's azurite, which e2e/setup.sh installs), for tests.
package azurite

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// ErrNotInstalled is Start's error when azurite-blob is not on PATH.
var ErrNotInstalled = errors.New("azurite-blob is not installed (npm install -g azurite@3.37.0, as e2e/setup.sh does)")

// Start runs azurite-blob on 127.0.0.1 with its data in dir and the one
// account given, waits until it listens, and returns the account's
// endpoint, http://127.0.0.1:PORT/ACCOUNT, and what stops it.
func Start(dir, account, key string) (endpoint string, stop func(), _ error) {
	bin, err := exec.LookPath("azurite-blob")
	if err != nil {
		return "", nil, ErrNotInstalled
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	log := &syncBuffer{}
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", port,
		"--location", filepath.Join(dir, "data"), "--skipApiVersionCheck", "--disableTelemetry")
	cmd.Env = append(os.Environ(), "AZURITE_ACCOUNTS="+account+":"+key)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return "http://" + addr + "/" + account, stop, nil
		}
		select {
		case err := <-exited:
			return "", nil, fmt.Errorf("azurite-blob exited (%v):\n%s", err, log.String())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("azurite-blob did not listen on %s within 60s:\n%s", addr, log.String())
		}
	}
}

// syncBuffer is azurite's output, written by its process's copiers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
