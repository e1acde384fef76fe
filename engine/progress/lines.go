package progress

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// Lines is a writer that logs what is written to it line by line, each
// line a record with the given attributes (a RUN's output, tagged by its
// step). Close logs an unfinished last line.
type Lines struct {
	log   *slog.Logger
	attrs []slog.Attr
	mu    sync.Mutex
	buf   []byte
}

// maxLine is the longest line kept whole; a longer one is cut into parts.
const maxLine = 64 << 10

// NewLines returns a Lines logging to log at Info.
func NewLines(log *slog.Logger, attrs ...slog.Attr) *Lines {
	return &Lines{log: log, attrs: attrs}
}

// Write logs every complete line of p, keeping the rest for later.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		switch {
		case i >= 0:
			l.emit(l.buf[:i])
			l.buf = l.buf[i+1:]
		case len(l.buf) >= maxLine:
			l.emit(l.buf[:maxLine])
			l.buf = l.buf[maxLine:]
		default:
			return len(p), nil
		}
	}
}

// Close logs what is left of an unfinished line.
func (l *Lines) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
	return nil
}

func (l *Lines) emit(line []byte) {
	l.log.LogAttrs(context.Background(), slog.LevelInfo, string(bytes.TrimSuffix(line, []byte("\r"))), l.attrs...)
}
