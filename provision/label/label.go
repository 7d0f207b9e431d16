// Package label prints token labels: per token, the serial as text and as a
// Code128 barcode, and for virtual (app) tokens a QR code of the otpauth
// URI, laid out 3 × 8 to an A4 sheet (70 × 37 mm labels, the common
// adhesive sheet). A sheet is a PDF (go-pdf/fpdf, barcodes embedded as
// lossless bitmaps) or a PNG at 200 dpi.
//
// Barcodes are drawn with whole pixels per module and the quiet zones their
// specifications ask for (10 modules for Code128, 4 for QR), so a scanner,
// and zbarimg in the tests, reads back exactly the serial or the URI.
//
//	s, _ := label.NewPDF(f)
//	s.Add(label.Label{Serial: "GAHT00000018"})
//	s.Close()
package label

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/boombuler/barcode/qr"
	"github.com/go-pdf/fpdf"

	"github.com/tokenlab/tokenlab/token"
)

// Label is what one label shows.
type Label struct {
	Serial token.Serial
	// URI is the otpauth URI of a virtual token, drawn as a QR code; empty
	// for hardware tokens. It holds the seed: print it only for enrolment.
	URI string
}

// Sheet collects labels and writes them out on Close.
type Sheet interface {
	Add(Label) error
	Close() error
}

// MaxLabels bounds a sheet file; a sheet is built in memory.
const MaxLabels = 10_000

// ErrLabel is matched by errors about a label that cannot be printed.
var ErrLabel = errors.New("label: cannot print")

// Sheet geometry: A4, 3 columns × 8 rows of 70 × 37.125 mm.
const (
	pageW, pageH = 210.0, 297.0
	cols, rows   = 3, 8
	labelW       = pageW / cols
	labelH       = pageH / rows
	padding      = 3.0 // mm inside each label
	dpi          = 200
)

const (
	code128Quiet = 10 // modules each side (ISO/IEC 15417)
	qrQuiet      = 4  // modules each side (ISO/IEC 18004)
)

// New returns a sheet for path's extension: .pdf or .png.
func New(w io.Writer, path string) (Sheet, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pdf":
		return NewPDF(w), nil
	case ".png":
		return NewPNG(w), nil
	}
	return nil, fmt.Errorf("%w: label file %q must end in .pdf or .png", ErrLabel, filepath.Base(path))
}

// bars renders the Code128 barcode of s, one pixel per module and one
// pixel high, with its quiet zones.
func bars(s token.Serial) (*image.Gray, error) {
	bc, err := code128.Encode(string(s))
	if err != nil {
		return nil, fmt.Errorf("%w: serial %s: %v", ErrLabel, s, err)
	}
	n := bc.Bounds().Dx()
	img := image.NewGray(image.Rect(0, 0, n+2*code128Quiet, 1))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for x := 0; x < n; x++ {
		if isDark(bc.At(bc.Bounds().Min.X+x, bc.Bounds().Min.Y)) {
			img.SetGray(code128Quiet+x, 0, color.Gray{})
		}
	}
	return img, nil
}

// qrModules renders the QR code of uri, one pixel per module, with its
// quiet zone.
func qrModules(uri string) (*image.Gray, error) {
	bc, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("%w: QR code: %v", ErrLabel, err)
	}
	n := bc.Bounds().Dx()
	img := image.NewGray(image.Rect(0, 0, n+2*qrQuiet, n+2*qrQuiet))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if isDark(bc.At(bc.Bounds().Min.X+x, bc.Bounds().Min.Y+y)) {
				img.SetGray(qrQuiet+x, qrQuiet+y, color.Gray{})
			}
		}
	}
	return img, nil
}

func isDark(c color.Color) bool {
	r, g, b, _ := c.RGBA()
	return r+g+b < 3*0x8000
}

var _ barcode.Barcode // the barcode types above come from this module

// scale enlarges img by whole pixels: sx across, to height h (for a
// one-row barcode) or sy down.
func scale(img *image.Gray, sx, sy, h int) *image.Gray {
	b := img.Bounds()
	if h == 0 {
		h = b.Dy() * sy
	}
	out := image.NewGray(image.Rect(0, 0, b.Dx()*sx, h))
	for y := 0; y < h; y++ {
		srcY := 0
		if b.Dy() > 1 {
			srcY = y / sy
		}
		row := out.Pix[y*out.Stride:]
		src := img.Pix[srcY*img.Stride:]
		for x := 0; x < b.Dx()*sx; x++ {
			row[x] = src[x/sx]
		}
	}
	return out
}

// layout is where the parts of one label go, in mm from its top left.
type layout struct {
	textX, textY, textH    float64
	barX, barY, barW, barH float64
	qrX, qrY, qrSide       float64
	hasQR                  bool
}

func plan(l Label) layout {
	lay := layout{textX: padding, textY: padding, textH: 5}
	lay.barX, lay.barY, lay.barH = padding, padding+7, labelH-2*padding-7
	lay.barW = labelW - 2*padding
	if l.URI != "" {
		lay.hasQR = true
		// 20 mm holds a version-7 QR code (an otpauth URI at level M)
		// at 2 px per module on a 200 dpi sheet.
		lay.qrSide = 20
		lay.qrX = labelW - padding - lay.qrSide
		lay.qrY = (labelH - lay.qrSide) / 2
		lay.barW = lay.qrX - padding - 2
		lay.barH = 15
	}
	return lay
}

// PDF is a sheet written as an A4 PDF.
type PDF struct {
	w      io.Writer
	pdf    *fpdf.Fpdf
	n      int
	err    error
	closed bool
}

// NewPDF returns a PDF sheet written to w on Close.
func NewPDF(w io.Writer) *PDF {
	p := fpdf.New("P", "mm", "A4", "")
	p.SetMargins(0, 0, 0)
	p.SetAutoPageBreak(false, 0)
	p.SetCreationDate(time.Unix(0, 0).UTC())
	p.SetCatalogSort(true)
	p.SetCompression(false) // page text stays searchable; images keep their own compression
	p.SetFont("Courier", "B", 11)
	return &PDF{w: w, pdf: p}
}

// Add places a label in the next free cell, starting a page as needed.
func (s *PDF) Add(l Label) error {
	if s.err != nil {
		return s.err
	}
	if s.n >= MaxLabels {
		return fmt.Errorf("%w: more than %d labels in one sheet file", ErrLabel, MaxLabels)
	}
	cell := s.n % (cols * rows)
	if cell == 0 {
		s.pdf.AddPage()
	}
	x0 := float64(cell%cols) * labelW
	y0 := float64(cell/cols) * labelH
	lay := plan(l)
	bar, err := bars(l.Serial)
	if err != nil {
		return err
	}
	// Whole modules of at least 0.19 mm (the usual minimum X dimension).
	modules := bar.Bounds().Dx()
	mw := lay.barW / float64(modules)
	if mw < 0.19 {
		return fmt.Errorf("%w: serial %s is too long for a %g mm label", ErrLabel, l.Serial, labelW)
	}
	if err := s.image(fmt.Sprintf("bar%d", s.n), scale(bar, 4, 0, 60), x0+lay.barX, y0+lay.barY, float64(modules)*mw, lay.barH); err != nil {
		return err
	}
	if lay.hasQR {
		q, err := qrModules(l.URI)
		if err != nil {
			return err
		}
		if err := s.image(fmt.Sprintf("qr%d", s.n), scale(q, 4, 4, 0), x0+lay.qrX, y0+lay.qrY, lay.qrSide, lay.qrSide); err != nil {
			return err
		}
	}
	s.pdf.Text(x0+lay.textX, y0+lay.textY+4, string(l.Serial))
	s.n++
	if s.pdf.Err() {
		s.err = fmt.Errorf("label: %w", s.pdf.Error())
	}
	return s.err
}

// image embeds img losslessly (a grey PNG, which PDF keeps as it is).
func (s *PDF) image(name string, img *image.Gray, x, y, w, h float64) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("label: %w", err)
	}
	s.pdf.RegisterImageOptionsReader(name, fpdf.ImageOptions{ImageType: "PNG"}, &buf)
	s.pdf.ImageOptions(name, x, y, w, h, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	return nil
}

// Close writes the PDF.
func (s *PDF) Close() error {
	if s.closed {
		return s.err
	}
	s.closed = true
	if s.err != nil {
		return s.err
	}
	if s.n == 0 {
		s.pdf.AddPage()
	}
	if err := s.pdf.Output(s.w); err != nil {
		return fmt.Errorf("label: %w", err)
	}
	return nil
}

// PNG is a sheet drawn as one image 210 mm wide at 200 dpi, as many A4
// pages tall as the labels need.
type PNG struct {
	w      io.Writer
	labels []Label
}

// NewPNG returns a PNG sheet written to w on Close.
func NewPNG(w io.Writer) *PNG { return &PNG{w: w} }

// Add queues a label; it is checked now and drawn on Close.
func (s *PNG) Add(l Label) error {
	if len(s.labels) >= MaxLabels {
		return fmt.Errorf("%w: more than %d labels in one sheet file", ErrLabel, MaxLabels)
	}
	if _, err := bars(l.Serial); err != nil {
		return err
	}
	s.labels = append(s.labels, l)
	return nil
}

func px(mm float64) int { return int(mm*dpi/25.4 + 0.5) }

// Close draws the sheet and encodes it.
func (s *PNG) Close() error {
	pages := max(1, (len(s.labels)+cols*rows-1)/(cols*rows))
	img := image.NewGray(image.Rect(0, 0, px(pageW), px(pageH)*pages))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, l := range s.labels {
		page, cell := i/(cols*rows), i%(cols*rows)
		x0 := px(float64(cell%cols) * labelW)
		y0 := px(pageH)*page + px(float64(cell/cols)*labelH)
		lay := plan(l)
		bar, err := bars(l.Serial)
		if err != nil {
			return err
		}
		mod := px(lay.barW) / bar.Bounds().Dx()
		if mod < 1 {
			return fmt.Errorf("%w: serial %s is too long for a label", ErrLabel, l.Serial)
		}
		mod = min(mod, 3)
		b := scale(bar, mod, 0, px(lay.barH))
		draw.Draw(img, b.Bounds().Add(image.Pt(x0+px(lay.barX), y0+px(lay.barY))), b, image.Point{}, draw.Src)
		if lay.hasQR {
			q, err := qrModules(l.URI)
			if err != nil {
				return err
			}
			m := px(lay.qrSide) / q.Bounds().Dx()
			if m < 2 {
				return fmt.Errorf("%w: the otpauth URI of %s is too long for a label's QR code", ErrLabel, l.Serial)
			}
			qs := scale(q, m, m, 0)
			draw.Draw(img, qs.Bounds().Add(image.Pt(x0+px(lay.qrX), y0+px(lay.qrY))), qs, image.Point{}, draw.Src)
		}
		drawText(img, x0+px(lay.textX), y0+px(lay.textY), 3, string(l.Serial))
	}
	if err := png.Encode(s.w, img); err != nil {
		return fmt.Errorf("label: %w", err)
	}
	return nil
}

// drawText draws s in the 5×7 font, each font pixel k×k image pixels.
func drawText(img *image.Gray, x, y, k int, s string) {
	for i := 0; i < len(s); i++ {
		g := glyph(s[i])
		for row := 0; row < 7; row++ {
			for col := 0; col < 5; col++ {
				if g[row]&(0x10>>col) == 0 {
					continue
				}
				for dy := 0; dy < k; dy++ {
					for dx := 0; dx < k; dx++ {
						img.SetGray(x+(i*6+col)*k+dx, y+row*k+dy, color.Gray{})
					}
				}
			}
		}
	}
}
