package battery

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteTable writes a human-readable table and a summary line.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tCHECK\tTIME\tDETAIL")
	for _, x := range r.Results {
		detail := x.Detail
		if detail == "" {
			detail = x.Summary
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(x.Outcome)), x.Name, x.Duration.Round(time.Millisecond), detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	p, f, s := r.Counts()
	_, err := fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped in %s\n", p, f, s, r.Duration.Round(time.Millisecond))
	return err
}

// WriteJSON writes the report as one JSON value.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// JUnit XML, as read by Jenkins, GitLab and GitHub test reporters.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML: one test suite per check
// family, one test case per check.
func (r *Report) WriteJUnit(w io.Writer) error {
	var out junitSuites
	index := map[string]int{}
	for _, x := range r.Results {
		i, ok := index[x.Family]
		if !ok {
			i = len(out.Suites)
			index[x.Family] = i
			out.Suites = append(out.Suites, junitSuite{Name: "fido." + x.Family})
		}
		s := &out.Suites[i]
		c := junitCase{Name: x.Name, Classname: "fido." + x.Family, Time: secs(x.Duration)}
		switch x.Outcome {
		case Fail:
			c.Failure = &junitMessage{Message: x.Detail}
			s.Failures++
		case Skip:
			c.Skipped = &junitMessage{Message: x.Detail}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for i := range out.Suites {
		var d time.Duration
		for _, x := range r.Results {
			if "fido."+x.Family == out.Suites[i].Name {
				d += x.Duration
			}
		}
		out.Suites[i].Time = secs(d)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
