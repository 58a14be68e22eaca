// Package plot draws latency-by-percentile curves as a standalone SVG, with
// the percentile on a logarithmic "nines" axis (50%, 90%, 99%, 99.9%, ...)
// the way HdrHistogram plots do, so the tail gets as much room as the median.
//
// # Caveats
//
// WriteSVG only reads its arguments; it is safe to call concurrently. Series
// names are escaped; everything else in the SVG is generated.
package plot

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"

	"github.com/torii-gateway/torii/bench/hdr"
)

// Series is one curve: a name for the legend and its percentile points
// (values in nanoseconds), as returned by hdr.Histogram.Distribution.
type Series struct {
	Name   string
	Points []hdr.Point
}

const (
	width, height            = 860, 480
	left, right, top, bottom = 80, 200, 50, 60
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// nines maps a quantile to the x scale: 0 for q=0, 1 for 90%, 2 for 99%...
func nines(q float64) float64 { return math.Log10(1 / (1 - q)) }

// WriteSVG writes the curves of series to w with the given title.
func WriteSVG(w io.Writer, title string, series []Series) error {
	// The x axis ends at the highest finite nines of any series (at least
	// 99%); each curve's maximum (q = 1) is drawn at that right edge.
	xMax, yMax := 2.0, int64(1)
	for _, s := range series {
		for _, p := range s.Points {
			if p.Quantile < 1 {
				xMax = max(xMax, math.Ceil(nines(p.Quantile)-1e-9))
			}
			yMax = max(yMax, p.Value)
		}
	}
	unit, div := "µs", 1e3
	if yMax >= 2e6 {
		unit, div = "ms", 1e6
	}
	yTop := niceCeil(float64(yMax) / div)
	plotW, plotH := float64(width-left-right), float64(height-top-bottom)
	px := func(q float64) float64 {
		x := xMax
		if q < 1 {
			x = min(nines(q), xMax)
		}
		return float64(left) + x/xMax*plotW
	}
	py := func(v int64) float64 { return float64(top) + plotH - float64(v)/div/yTop*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="16">%s</text>`+"\n", left, html.EscapeString(title))
	// Grid and x labels: one line per nine.
	for k := 0.0; k <= xMax; k++ {
		x := float64(left) + k/xMax*plotW
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x, top, x, float64(top)+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, float64(top)+plotH+18, ninesLabel(k))
	}
	for i := 0; i <= 5; i++ {
		v := yTop * float64(i) / 5
		y := float64(top) + plotH - plotH*float64(i)/5
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, y, float64(left)+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, trimFloat(v))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">percentile (log "nines" scale; right edge = max)</text>`+"\n",
		float64(left)+plotW/2, height-15)
	fmt.Fprintf(&b, `<text transform="translate(20 %.1f) rotate(-90)" text-anchor="middle">latency (%s)</text>`+"\n",
		float64(top)+plotH/2, unit)
	for i, s := range series {
		color := palette[i%len(palette)]
		if len(s.Points) > 0 {
			b.WriteString(`<polyline fill="none" stroke-width="2" stroke="` + color + `" points="`)
			for j, p := range s.Points {
				if j > 0 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "%.1f,%.1f", px(p.Quantile), py(p.Value))
			}
			b.WriteString("\"/>\n")
		}
		ly := top + 10 + i*20
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n",
			width-right+15, ly, width-right+40, ly, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", width-right+46, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("cannot write SVG: %w", err)
	}
	return nil
}

// ninesLabel names the percentile k nines from zero: 0%, 90%, 99%, 99.9%...
func ninesLabel(k float64) string {
	switch k {
	case 0:
		return "0%"
	case 1:
		return "90%"
	case 2:
		return "99%"
	}
	return "99." + strings.Repeat("9", int(k)-2) + "%"
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
