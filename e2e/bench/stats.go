//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
)

// median of an odd count is the middle value, of an even count the lower
// middle one (a value that was measured).
func median[T float64 | uint64](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// spread is the fastest, the median and the slowest of a row's times.
func spread(secs []float64) (lo, mid, hi float64) {
	if len(secs) == 0 {
		return 0, 0, 0
	}
	return slices.Min(secs), median(secs), slices.Max(secs)
}

// The verdicts of a peer's row.
const (
	verdictWin   = "win"
	verdictLoss  = "loss"
	verdictNoise = "within noise"
)

// verdict compares our row with a peer's: a win only when our slowest
// run is faster than the peer's median, a loss only when the peer's
// slowest run is faster than our median (the same rule from the peer's
// side), anything between is within noise. "" when a row has no
// successful run.
func verdict(ours, peer *result) string {
	if ours == nil || peer == nil || ours.MedianSeconds <= 0 || peer.MedianSeconds <= 0 {
		return ""
	}
	switch {
	case ours.MaxSeconds < peer.MedianSeconds:
		return verdictWin
	case peer.MaxSeconds < ours.MedianSeconds:
		return verdictLoss
	}
	return verdictNoise
}

// isPeer says whether a row is another builder's, one a verdict is given
// for: not ours in any form, not a floor, not the container start.
func isPeer(builder string) bool {
	base := strings.TrimSuffix(builder, cachedSuffix)
	return !strings.HasPrefix(base, "ours") && !strings.HasPrefix(base, "floor") && base != containerStart
}

// secondsRange is "median (min-max)" of a row, for the table and the
// summary.
func secondsRange(r *result) string {
	if r.MedianSeconds <= 0 {
		return "fail"
	}
	return fmt.Sprintf("%.2fs (%.2f-%.2f)", r.MedianSeconds, r.MinSeconds, r.MaxSeconds)
}

// verdictPhrase is the verdict of ours against a peer with the numbers
// it rests on, for the summary.
func verdictPhrase(ours, peer *result) string {
	switch verdict(ours, peer) {
	case verdictWin:
		return fmt.Sprintf("a win: our slowest run %.2fs is below its median %.2fs", ours.MaxSeconds, peer.MedianSeconds)
	case verdictLoss:
		return fmt.Sprintf("a loss: its slowest run %.2fs is below our median %.2fs", peer.MaxSeconds, ours.MedianSeconds)
	case verdictNoise:
		return fmt.Sprintf("within noise: our slowest run %.2fs is not below its median %.2fs, nor its slowest %.2fs below our median %.2fs",
			ours.MaxSeconds, peer.MedianSeconds, peer.MaxSeconds, ours.MedianSeconds)
	}
	return "no verdict"
}
