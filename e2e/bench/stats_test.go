//go:build linux

package main

import (
	"slices"
	"strings"
	"testing"
)

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		secs        []float64
		lo, mid, hi float64
	}{
		{nil, 0, 0, 0},
		{[]float64{2}, 2, 2, 2},
		{[]float64{3, 1, 2}, 1, 2, 3},
		{[]float64{5, 1, 4, 2, 3}, 1, 3, 5},
		// An even count: the lower middle one, a value that was measured.
		{[]float64{4, 1, 3, 2}, 1, 2, 4},
	} {
		in := slices.Clone(tc.secs)
		lo, mid, hi := spread(tc.secs)
		if lo != tc.lo || mid != tc.mid || hi != tc.hi {
			t.Errorf("spread(%v) = %v, %v, %v; want %v, %v, %v", tc.secs, lo, mid, hi, tc.lo, tc.mid, tc.hi)
		}
		if !slices.Equal(in, tc.secs) {
			t.Errorf("spread sorted its argument: %v", tc.secs)
		}
	}
}

func TestSummarize(t *testing.T) {
	r := &result{Runs: []sample{
		{Seconds: 3, PeakBytes: 30, PeakRSSBytes: 3},
		{Seconds: 1, PeakBytes: 10, PeakRSSBytes: 1},
		{Seconds: 0.5, Error: "failed"},
		{Seconds: 5, PeakBytes: 50, PeakRSSBytes: 5},
		{Seconds: 2, PeakBytes: 20, PeakRSSBytes: 2},
		{Seconds: 4, PeakBytes: 40, PeakRSSBytes: 4},
	}}
	summarize(r)
	if r.MinSeconds != 1 || r.MedianSeconds != 3 || r.MaxSeconds != 5 {
		t.Errorf("min, median, max = %v, %v, %v; want 1, 3, 5 (the failed run left out)", r.MinSeconds, r.MedianSeconds, r.MaxSeconds)
	}
	if r.MedianPeakBytes != 30 || r.MedianPeakRSSBytes != 3 || r.Failed != 1 {
		t.Errorf("median peak %d, rss %d, failed %d; want 30, 3, 1", r.MedianPeakBytes, r.MedianPeakRSSBytes, r.Failed)
	}
}

func row(min, med, max float64) *result {
	return &result{MinSeconds: min, MedianSeconds: med, MaxSeconds: max}
}

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ours, peer *result
		want       string
	}{
		{"our slowest below its median", row(1, 1.1, 1.9), row(1.5, 2, 3), verdictWin},
		{"our slowest at its median is no win", row(1, 1.1, 2), row(1.5, 2, 3), verdictNoise},
		{"faster median, overlapping ranges", row(1, 1.5, 2.5), row(1.2, 2, 3), verdictNoise},
		{"its slowest below our median", row(2, 3, 4), row(1, 1.5, 2.5), verdictLoss},
		{"its slowest at our median is no loss", row(2, 3, 4), row(1, 1.5, 3), verdictNoise},
		{"equal", row(1, 1, 1), row(1, 1, 1), verdictNoise},
		{"peer failed", row(1, 1, 1), row(0, 0, 0), ""},
		{"ours failed", row(0, 0, 0), row(1, 1, 1), ""},
		{"no ours", nil, row(1, 1, 1), ""},
	} {
		if got := verdict(tc.ours, tc.peer); got != tc.want {
			t.Errorf("%s: verdict = %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestRatiosVerdicts(t *testing.T) {
	results := []*result{
		{Context: "c", Builder: "ours", MinSeconds: 1, MedianSeconds: 1, MaxSeconds: 1.2},
		{Context: "c", Builder: "ours-host", MinSeconds: 0.5, MedianSeconds: 0.5, MaxSeconds: 0.6},
		{Context: "c", Builder: "buildkit", MinSeconds: 1.5, MedianSeconds: 2, MaxSeconds: 2.5},
		{Context: "c", Builder: "kaniko", MinSeconds: 1, MedianSeconds: 1.1, MaxSeconds: 1.3},
		{Context: "c", Builder: "floor", MinSeconds: 0.2, MedianSeconds: 0.25, MaxSeconds: 0.3},
		{Context: "c", Builder: "ours-cached", MinSeconds: 1, MedianSeconds: 2, MaxSeconds: 3},
		{Context: "c", Builder: "buildah-cached", MinSeconds: 0.1, MedianSeconds: 0.2, MaxSeconds: 0.3},
		{Context: "c", Builder: containerStart + cachedSuffix, MinSeconds: 0.1, MedianSeconds: 0.2, MaxSeconds: 0.3},
		{Context: "d", Builder: "buildkit", MinSeconds: 1, MedianSeconds: 2, MaxSeconds: 3},
	}
	ratios(results, "c")
	want := map[string]string{
		"ours": "", "ours-host": "", "buildkit": verdictWin, "kaniko": verdictNoise, "floor": "",
		"ours-cached": "", "buildah-cached": verdictLoss, containerStart + cachedSuffix: "",
	}
	for _, r := range results {
		if r.Context != "c" {
			if r.Verdict != "" || r.OursOverThis != 0 {
				t.Errorf("context d got a verdict or ratio from c")
			}
			continue
		}
		if r.Verdict != want[r.Builder] {
			t.Errorf("%s: verdict %q; want %q", r.Builder, r.Verdict, want[r.Builder])
		}
	}
	if results[2].OursOverThis != 0.5 || results[6].OursOverThis != 10 {
		t.Errorf("ratios %v, %v; want 0.5 (cold, ours) and 10 (cached, ours-cached)", results[2].OursOverThis, results[6].OursOverThis)
	}
}

func TestSummaryLineVerdict(t *testing.T) {
	rep := &report{Results: []*result{
		{Context: "tiny", Builder: "ours", MinSeconds: 1, MedianSeconds: 1.1, MaxSeconds: 1.9},
		{Context: "tiny", Builder: "buildkit", MinSeconds: 1.5, MedianSeconds: 2, MaxSeconds: 3},
		{Context: "tiny", Builder: "kaniko", MinSeconds: 2, MedianSeconds: 4, MaxSeconds: 5},
	}}
	lines := summaryLines(rep)
	if len(lines) != 1 {
		t.Fatalf("summary: %q", lines)
	}
	for _, want := range []string{"fastest peer buildkit 2.00s (1.50-3.00)", "ours 1.10s (1.00-1.90)", "a win: our slowest run 1.90s is below its median 2.00s"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("summary %q lacks %q", lines[0], want)
		}
	}
	rep.Results[0].MaxSeconds = 2.2
	if l := summaryLines(rep)[0]; !strings.Contains(l, "within noise") {
		t.Errorf("summary %q: want within noise", l)
	}
}
