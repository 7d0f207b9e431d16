package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/provision/line"
)

// lineFlags are the production line's flags, shared by "provision line"
// and "provision batch --burn".
func lineFlags(fs *pflag.FlagSet) {
	fs.Int("stations", 2, "stations working at once")
	fs.String("report", "", "write the line report to FILE.csv or FILE.json (serial, station, outcome, reason)")
	fs.Float64("defect-rate", 0, "share of units (0 to 1) built with a defect (stuck clock, bad flash write)")
	fs.Uint64("defect-seed", 1, "seed choosing the defective units, for repeatable runs")
	fs.String("home", "", "directory of emulated devices, where locked tokens land (default $TOKENLAB_HOME)")
}

type lineConfig struct {
	in         string
	psk, pass  []byte
	stations   int
	report     string
	defectRate float64
	defectSeed uint64
	home       string
}

type lineSummary struct {
	line.Summary
	Home     string        `json:"home"`
	Report   string        `json:"report,omitempty"`
	Failures []line.Result `json:"failures,omitempty"` // the first 100 failed units
}

func lineFlagValues(env *Env, fs *pflag.FlagSet) (*lineConfig, error) {
	c := &lineConfig{report: flagString(fs, "report")}
	c.stations, _ = fs.GetInt("stations")
	c.defectRate, _ = fs.GetFloat64("defect-rate")
	c.defectSeed, _ = fs.GetUint64("defect-seed")
	if c.stations < 1 || c.stations > 256 {
		return nil, usagef("--stations %d: want 1 to 256", c.stations)
	}
	if c.defectRate < 0 || c.defectRate > 1 {
		return nil, usagef("--defect-rate %g: want a share between 0 and 1", c.defectRate)
	}
	if c.report != "" {
		if ext := strings.ToLower(filepath.Ext(c.report)); ext != ".csv" && ext != ".json" {
			return nil, usagef("--report %s: want a .csv or .json file", c.report)
		}
	}
	var err error
	if c.home, err = homeDir(env, flagString(fs, "home")); err != nil {
		return nil, err
	}
	return c, nil
}

func provisionLine(ctx context.Context, env *Env, fs *pflag.FlagSet, args []string) error {
	if len(args) != 0 {
		return usagef("provision line: unexpected argument %q", args[0])
	}
	c, err := lineFlagValues(env, fs)
	if err != nil {
		return err
	}
	if c.in = flagString(fs, "in"); c.in == "" {
		return &UsageError{Err: errors.New("provision line: --in FILE is required"), Hint: "give the seed file of the batch to burn"}
	}
	if c.psk, c.pass, err = keyFiles(fs); err != nil {
		return err
	}
	sum, err := runLine(ctx, env, c)
	if err != nil {
		return err
	}
	if flagBool(fs, "json") {
		return printJSON(env.Stdout, sum)
	}
	printLineSummary(env.Stdout, sum)
	return nil
}

// runLine checks the whole seed file, then burns it.
func runLine(ctx context.Context, env *Env, c *lineConfig) (*lineSummary, error) {
	opts := provision.ReadOptions{PreSharedKey: c.psk, Passphrase: c.pass}
	total, err := provision.Check(c.in, opts)
	if err != nil {
		return nil, readErr(c.in, err)
	}
	r, err := provision.Open(c.in, opts)
	if err != nil {
		return nil, readErr(c.in, err)
	}
	defer r.Close()
	home, err := emulator.OpenHome(c.home, hw.TimeFunc(env.Now))
	if err != nil {
		return nil, err
	}
	var rep reportWriter = discardReport{}
	var rf *provision.File
	if c.report != "" {
		if rf, err = provision.CreateFile(c.report); err != nil {
			return nil, err
		}
		defer rf.Abort()
		if strings.EqualFold(filepath.Ext(c.report), ".json") {
			rep = &jsonReport{w: rf}
		} else {
			rep = newCSVReport(rf)
		}
	}
	sum := &lineSummary{Home: c.home, Report: c.report}
	bar := newProgress(env, total, "burning "+filepath.Base(c.in))
	s, err := line.Run(ctx, line.Config{
		Stations: c.stations, DefectRate: c.defectRate, DefectSeed: c.defectSeed,
		Time: hw.TimeFunc(env.Now), Store: home,
	}, r.Next, func(res line.Result) error {
		bar.add(1)
		if res.Outcome == line.Failed && len(sum.Failures) < 100 {
			sum.Failures = append(sum.Failures, res)
		}
		return rep.write(res)
	})
	if err != nil {
		return nil, readErr(c.in, err)
	}
	bar.done()
	if err := rep.close(); err != nil {
		return nil, err
	}
	if rf != nil {
		if err := rf.Commit(); err != nil {
			return nil, err
		}
	}
	sum.Summary = s
	return sum, nil
}

func printLineSummary(w io.Writer, s *lineSummary) {
	fmt.Fprintf(w, "line: %d units, %d locked, %d failed; locked tokens are in %s\n", s.Total, s.Locked, s.Failed, s.Home)
	for _, f := range s.Failures {
		fmt.Fprintf(w, "  %s (station %d): %s\n", f.Serial, f.Station, f.Reason)
	}
	if len(s.Failures) < s.Failed {
		fmt.Fprintf(w, "  ... %d more\n", s.Failed-len(s.Failures))
	}
	if s.Report != "" {
		fmt.Fprintf(w, "report: %s\n", s.Report)
	}
}

type reportWriter interface {
	write(line.Result) error
	close() error
}

type discardReport struct{}

func (discardReport) write(line.Result) error { return nil }
func (discardReport) close() error            { return nil }

type csvReport struct{ w *csv.Writer }

func newCSVReport(w io.Writer) *csvReport {
	c := &csvReport{w: csv.NewWriter(w)}
	c.w.Write([]string{"serial", "station", "outcome", "reason"})
	return c
}

func (c *csvReport) write(r line.Result) error {
	return c.w.Write([]string{string(r.Serial), strconv.Itoa(r.Station), string(r.Outcome), r.Reason})
}

func (c *csvReport) close() error {
	c.w.Flush()
	return c.w.Error()
}

// jsonReport streams a JSON array of results.
type jsonReport struct {
	w io.Writer
	n int
}

func (j *jsonReport) write(r line.Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	sep := ",\n  "
	if j.n == 0 {
		sep = "[\n  "
	}
	j.n++
	_, err = io.WriteString(j.w, sep+string(b))
	return err
}

func (j *jsonReport) close() error {
	end := "\n]\n"
	if j.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(j.w, end)
	return err
}
