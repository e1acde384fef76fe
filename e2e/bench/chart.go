//go:build linux

package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"slices"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// The chart: one row per context, wall time on the left and peak memory
// on the right, one horizontal bar per builder, each panel on its own
// scale. A time bar ends at the median run and a whisker across its end
// spans the fastest to the slowest run; memory bars are medians.
const (
	chartW   = 1400
	margin   = 16
	labelW   = 165 // builder names
	valueW   = 170 // the numbers after a memory bar
	timeW    = 800 // the time panel; the memory panel has the rest
	tValueW  = 380 // the numbers after a time bar: range, ratio, verdict
	barH     = 14
	barGap   = 5
	titleH   = 22
	rowGap   = 14
	headerH  = 72
	glyphW   = 7
	baseline = 10 // basicfont.Face7x13's ascent, about
)

var (
	white    = color.RGBA{255, 255, 255, 255}
	ink      = color.RGBA{30, 30, 30, 255}
	grey     = color.RGBA{120, 120, 120, 255}
	rule     = color.RGBA{225, 225, 225, 255}
	barColor = map[string]color.RGBA{
		"ours":         {31, 91, 180, 255},
		"ours-host":    {120, 160, 220, 255},
		"kaniko":       {230, 140, 40, 255},
		"buildkit":     {60, 160, 80, 255},
		"buildah":      {150, 90, 170, 255},
		"docker":       {40, 170, 190, 255},
		"floor":        {150, 150, 150, 255},
		"floor-added":  {195, 195, 195, 255},
		containerStart: {175, 190, 210, 255},
	}
)

func writeChart(path string, rep *report) error {
	var contexts []string
	rows := map[string][]*result{}
	for _, r := range grouped(rep.Results) {
		g := group(r)
		if rows[g] == nil {
			contexts = append(contexts, g)
		}
		rows[g] = append(rows[g], r)
	}
	h := headerH
	for _, c := range contexts {
		h += titleH + len(rows[c])*(barH+barGap) + rowGap
	}
	h += margin
	img := image.NewRGBA(image.Rect(0, 0, chartW, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{white}, image.Point{}, draw.Src)

	title := fmt.Sprintf("kaniko-build bench: cold builds and fully cached rebuilds pushed to a local registry, %d runs each", rep.RunsEach)
	if slices.ContainsFunc(rep.Results, func(r *result) bool { return r.Format != "" }) {
		title += fmt.Sprintf(", layers %s level %d (docker: level 6, cannot be set)", benchCompression, benchLevel)
	}
	text(img, margin, margin+baseline, ink, title)
	text(img, margin, margin+baseline+16, grey, fmt.Sprintf("%s CPUs, %s RAM, kernel %s. Shorter is better. Time: bar to the median run, whisker from the fastest to the slowest; a win only when our slowest run beats the peer's median.",
		rep.Machine["cpus"], rep.Machine["memory"], rep.Machine["kernel"]))
	text(img, margin, margin+baseline+32, grey, "Memory: median of the cgroup v1 peaks, page cache included; rss sampled. n/a: docker builds in its daemon.")

	memW := chartW - 3*margin - timeW
	y := headerH
	for _, c := range contexts {
		rs := rows[c]
		x0, x1 := margin, margin+timeW+margin
		text(img, x0, y+baseline+4, ink, c+": wall time")
		text(img, x1, y+baseline+4, ink, c+": peak memory")
		y += titleH
		maxT, maxM := 0.0, 0.0
		for _, r := range rs {
			maxT = max(maxT, r.MedianSeconds, r.MaxSeconds)
			if r.MemoryNA == "" {
				maxM = max(maxM, float64(r.MedianPeakBytes))
			}
		}
		for i, r := range rs {
			by := y + i*(barH+barGap)
			col, ok := barColor[strings.TrimSuffix(r.Builder, cachedSuffix)]
			if !ok {
				col = grey
			}
			// time
			label := "fail"
			if r.MedianSeconds > 0 {
				label = timeLabel(r)
			}
			rangeBar(img, x0, by, timeW, tValueW, r.Builder, r.MinSeconds, r.MedianSeconds, r.MaxSeconds, maxT, col, label)
			// memory
			label, v := "-", float64(r.MedianPeakBytes)
			switch {
			case r.MemoryNA != "":
				label, v = "n/a", 0
			case r.MedianPeakBytes > 0:
				label = mib(r.MedianPeakBytes)
				if r.MedianPeakRSSBytes > 0 {
					label += ", rss " + mib(r.MedianPeakRSSBytes)
				}
			}
			bar(img, x1, by, memW, r.Builder, v, maxM, col, label)
		}
		y += len(rs)*(barH+barGap) + rowGap
		for x := margin; x < chartW-margin; x++ {
			img.Set(x, y-rowGap/2, rule)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// timeLabel is the text after a time bar: median, range, and for a row
// other than ours the ratio and the verdict.
func timeLabel(r *result) string {
	label := fmt.Sprintf("%.2fs (%.2f-%.2f)", r.MedianSeconds, r.MinSeconds, r.MaxSeconds)
	if r.Builder != "ours" && r.Builder != "ours"+cachedSuffix && r.OursOverThis > 0 {
		label += fmt.Sprintf("  ours/this %.2f", r.OursOverThis)
		if r.Verdict != "" {
			label += ", " + r.Verdict
		}
	}
	return label
}

// rangeBar draws "name |#####|-+--| value" in a panel w wide at (x, y),
// valueW of it after the bar: a bar to mid and a whisker from lo to hi
// (no whisker when hi is 0: a row read from before the ranges).
func rangeBar(img *image.RGBA, x, y, w, valueW int, name string, lo, mid, hi, vmax float64, col color.RGBA, value string) {
	text(img, x+labelW-len(name)*glyphW-6, y+baseline+1, ink, name)
	room := w - labelW - valueW
	px := func(v float64) int {
		if vmax <= 0 || v <= 0 {
			return 0
		}
		return max(1, int(float64(room)*v/vmax+0.5))
	}
	n := px(mid)
	draw.Draw(img, image.Rect(x+labelW, y, x+labelW+n, y+barH), &image.Uniform{col}, image.Point{}, draw.Src)
	end := n
	if hi > 0 {
		a, b := x+labelW+px(lo), x+labelW+px(hi)
		mid := y + barH/2
		for xx := a; xx <= b; xx++ {
			img.Set(xx, mid, ink)
		}
		for yy := y + 2; yy < y+barH-2; yy++ {
			img.Set(a, yy, ink)
			img.Set(b, yy, ink)
		}
		end = max(end, px(hi))
	}
	text(img, x+labelW+end+4, y+baseline+1, ink, value)
}

// bar draws "name |#####| value" in a panel w wide at (x, y).
func bar(img *image.RGBA, x, y, w int, name string, v, vmax float64, col color.RGBA, value string) {
	text(img, x+labelW-len(name)*glyphW-6, y+baseline+1, ink, name)
	room := w - labelW - valueW
	n := 0
	if vmax > 0 && v > 0 {
		n = max(1, int(float64(room)*v/vmax+0.5))
	}
	draw.Draw(img, image.Rect(x+labelW, y, x+labelW+n, y+barH), &image.Uniform{col}, image.Point{}, draw.Src)
	text(img, x+labelW+n+4, y+baseline+1, ink, value)
}

func text(img *image.RGBA, x, y int, c color.Color, s string) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
