// Package progress renders a build's log records for a person. The
// engine reports everything as slog records whose message is the line a
// person reads and whose attributes are for machines (a JSON handler
// keeps them all); Handler writes the message alone, as the build's
// progress, and warnings and errors as slog's text lines.
package progress

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Event is the attribute that names what a record reports.
const Event = "event"

// Start is the suffix of the events that mark a beginning ("step.start"):
// machines want them, a person sees a step's line when it ends.
const Start = ".start"

// Handler writes records as progress lines.
type Handler struct {
	w          *lockedWriter
	level      slog.Leveler
	timestamps bool
	text       slog.Handler // for warnings and errors
	attrs      []slog.Attr  // from WithAttrs, to see events set there
}

// NewHandler returns a Handler writing to w the records at level or
// above; timestamps prefixes each progress line with the time.
func NewHandler(w io.Writer, level slog.Leveler, timestamps bool) *Handler {
	lw := &lockedWriter{w: w}
	opts := &slog.HandlerOptions{Level: level}
	if !timestamps {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return &Handler{w: lw, level: level, timestamps: timestamps, text: slog.NewTextHandler(lw, opts)}
}

// Enabled reports whether l is at the handler's level or above.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle writes r: its message for progress, slog's text line for a
// warning or an error, nothing for a start event.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		return h.text.Handle(ctx, r)
	}
	if h.isStart(r) {
		return nil
	}
	var b strings.Builder
	if h.timestamps {
		b.WriteString(r.Time.Format(time.RFC3339))
		b.WriteByte(' ')
	}
	b.WriteString(r.Message)
	b.WriteByte('\n')
	_, err := h.w.Write([]byte(b.String()))
	return err
}

func (h *Handler) isStart(r slog.Record) bool {
	start := false
	check := func(a slog.Attr) bool {
		if a.Key == Event && strings.HasSuffix(a.Value.String(), Start) {
			start = true
		}
		return !start
	}
	for _, a := range h.attrs {
		check(a)
	}
	r.Attrs(check)
	return start
}

// WithAttrs returns a handler whose records carry attrs too.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	c.text = h.text.WithAttrs(attrs)
	return &c
}

// WithGroup returns a handler whose warnings put later attributes in a
// group; progress lines show no attributes anyway.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.text = h.text.WithGroup(name)
	return &c
}

// lockedWriter serialises the writes of concurrent stages.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Tee returns a logger writing to log and, when w is not nil, to w as
// progress lines; to neither when both are nil.
func Tee(log *slog.Logger, w io.Writer) *slog.Logger {
	if w == nil {
		if log == nil {
			return slog.New(slog.DiscardHandler)
		}
		return log
	}
	h := NewHandler(w, slog.LevelInfo, false)
	if log == nil {
		return slog.New(h)
	}
	return slog.New(slog.NewMultiHandler(log.Handler(), h))
}
