package store

import "slices"

// Severity grades a Finding.
type Severity string

// Severities, from harmless to must-fix.
const (
	SeverityOK      Severity = "ok"
	SeverityInfo    Severity = "info"
	SeverityWarning Severity = "warning"
	SeveritySevere  Severity = "severe"
)

// Finding is one result of a store's audit of its server (what `seshat
// doctor` prints): the check, how it went, and how to fix it.
type Finding struct {
	Check    string   `json:"check"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix,omitempty"`
}

// AnySevere reports whether a finding is severe.
func AnySevere(fs []Finding) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Severity == SeveritySevere })
}
