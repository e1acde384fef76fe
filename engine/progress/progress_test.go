package progress

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestHandlerWritesMessagesAndWarnings(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(NewHandler(&out, slog.LevelInfo, false))
	log.Info("[app 1/1] STEP 1/2: RUN make", Event, "step.start", "stage", "app")
	log.Info("[app 1/1] STEP 1/2: RUN make (2s)", Event, "step", "stage", "app", "duration_ms", 2000)
	log.Debug("hidden")
	log.Warn("reading the cache failed", "err", "boom")
	log.With(Event, "stage.start").Info("not shown either")
	want := "[app 1/1] STEP 1/2: RUN make (2s)\nlevel=WARN msg=\"reading the cache failed\" err=boom\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestHandlerTimestamps(t *testing.T) {
	var out bytes.Buffer
	slog.New(NewHandler(&out, slog.LevelInfo, true)).Info("built")
	line := strings.TrimSuffix(out.String(), "\n")
	if ts, msg, ok := strings.Cut(line, " "); !ok || msg != "built" || !strings.Contains(ts, "T") {
		t.Errorf("got %q, want an RFC 3339 time, then the message", line)
	}
}

// Every line written becomes a record with the writer's attributes; a
// line longer than maxLine is cut, an unfinished last line comes at Close.
func TestLines(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&out, nil))
	l := NewLines(log, slog.String(Event, "output"), slog.Int("step", 3))
	long := strings.Repeat("x", maxLine+5)
	for _, p := range []string{"one\ntw", "o\r\n", long, "\nlast"} {
		if _, err := l.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Event string `json:"event"`
			Step  int    `json:"step"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		if rec.Event != "output" || rec.Step != 3 {
			t.Errorf("record %q lacks the writer's attributes", line)
		}
		msgs = append(msgs, rec.Msg)
	}
	want := []string{"one", "two", long[:maxLine], "xxxxx", "last"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("got %d lines %.80q, want %d", len(msgs), msgs, len(want))
	}
}

func TestTee(t *testing.T) {
	var text, js bytes.Buffer
	log := Tee(slog.New(slog.NewJSONHandler(&js, nil)), &text)
	log.Info("pushed a@sha256:1", Event, "pushed")
	if text.String() != "pushed a@sha256:1\n" || !strings.Contains(js.String(), `"event":"pushed"`) {
		t.Errorf("text %q, json %q", text.String(), js.String())
	}
	Tee(nil, nil).Info("nowhere")
}
