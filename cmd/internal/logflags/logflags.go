// Package logflags holds the logging flags the executor and the warmer
// share, Kaniko's: --verbosity, --log-format and --log-timestamp.
package logflags

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kaniko-build/kaniko-build/engine/progress"
)

// Flags are the logging flags' values.
type Flags struct {
	Verbosity string
	Format    string
	Timestamp bool
}

// AddFlags declares the logging flags on fs.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&f.Verbosity, "verbosity", "v", "info", "log level: panic, fatal, error, warn, info, debug or trace")
	fs.StringVar(&f.Format, "log-format", "text", "log format: text, color or json")
	fs.BoolVar(&f.Timestamp, "log-timestamp", false, "prefix each text log line with the time (JSON lines always have it)")
}

// Logger returns the logger the flags ask for, writing to w: progress
// lines and warnings as text (progress.Handler), or one JSON object per
// line.
func (f Flags) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(f.Verbosity) {
	case "trace", "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn", "warning":
		level = slog.LevelWarn
	case "error", "fatal", "panic":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("--verbosity=%s: want panic, fatal, error, warn, info, debug or trace", f.Verbosity)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.Format {
	case "text", "color":
		return slog.New(progress.NewHandler(w, level, f.Timestamp)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format=%s: want text, color or json", f.Format)
}

// Fail reports a failed run: "error: ..." as text, or a JSON record.
func (f Flags) Fail(w io.Writer, log *slog.Logger, err error) {
	if f.Format == "json" && log != nil {
		log.Error("error: "+err.Error(), progress.Event, "error")
		return
	}
	fmt.Fprintf(w, "error: %v\n", err)
}
