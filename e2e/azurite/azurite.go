// Package azurite starts Azurite's Blob service, Microsoft's Azure Storage
// emulator (npm's azurite, which e2e/setup.sh installs), for tests.
package azurite

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// ErrNotInstalled is Start's error when azurite-blob is not on PATH.
var ErrNotInstalled = errors.New("azurite-blob is not installed (npm install -g azurite@3.37.0, as e2e/setup.sh does)")

// Server is a running Azurite with one storage account.
type Server struct {
	// Endpoint is the account's Blob service, http://127.0.0.1:PORT/ACCOUNT.
	Endpoint string
	Account  string
	// Key is the account's shared key, made at random.
	Key  string
	stop func()
}

// Close stops the server.
func (s *Server) Close() { s.stop() }

// Upload puts data as blob in container, which it creates if need be.
func (s *Server) Upload(ctx context.Context, container, blob string, data []byte) error {
	cred, err := azblob.NewSharedKeyCredential(s.Account, s.Key)
	if err != nil {
		return err
	}
	client, err := azblob.NewClientWithSharedKeyCredential(s.Endpoint, cred, nil)
	if err != nil {
		return err
	}
	_, err = client.CreateContainer(ctx, container, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("creating container %s: %w", container, err)
	}
	_, err = client.UploadBuffer(ctx, container, blob, data, nil)
	return err
}

// Start runs azurite-blob on 127.0.0.1 with its data in dir and the one
// account given, with a random key, and waits until it listens.
func Start(dir, account string) (*Server, error) {
	raw := make([]byte, 64)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	key := base64.StdEncoding.EncodeToString(raw)
	endpoint, stop, err := start(dir, account, key)
	if err != nil {
		return nil, err
	}
	return &Server{Endpoint: endpoint, Account: account, Key: key, stop: stop}, nil
}

func start(dir, account, key string) (endpoint string, stop func(), _ error) {
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
