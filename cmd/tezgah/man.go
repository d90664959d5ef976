package main

import (
	"fmt"
	"io"
	"strings"
)

// writeMan renders usage as a man page (roff), so the page installed by
// the .deb (`tezgah help --man`, run by the packager) says exactly what
// `tezgah help` says.
func writeMan(w io.Writer, version string) {
	lines := strings.Split(strings.TrimSpace(usage), "\n")
	name, summary, _ := strings.Cut(lines[0], " — ")
	fmt.Fprintf(w, ".TH TEZGAH 1 \"\" \"tezgah %s\" \"User Commands\"\n", roff(version))
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", roff(name), roff(summary))
	fmt.Fprint(w, ".SH SYNOPSIS\n")
	// The usage block: "Usage:" and the indented command lines after it.
	rest := lines[1:]
	for len(rest) > 0 && (strings.TrimSpace(rest[0]) == "" || strings.TrimSpace(rest[0]) == "Usage:") {
		rest = rest[1:]
	}
	for ; len(rest) > 0 && strings.HasPrefix(rest[0], "  "); rest = rest[1:] {
		cmd, note, _ := strings.Cut(strings.TrimSpace(rest[0]), "   ")
		fmt.Fprintf(w, ".TP\n.B %s\n", roff(cmd))
		if note = strings.TrimSpace(note); note != "" {
			fmt.Fprintf(w, "%s\n", roff(note))
		}
	}
	fmt.Fprint(w, ".SH DESCRIPTION\n")
	for _, l := range rest {
		if strings.TrimSpace(l) == "" {
			fmt.Fprint(w, ".PP\n")
			continue
		}
		fmt.Fprintf(w, "%s\n", roff(l))
	}
	fmt.Fprint(w, `.SH FILES
.TP
.I /etc/tezgah/tezgah.toml
the configuration (an example beside it: tezgah.example.toml)
.TP
.I /etc/tezgah/tezgah.env
secrets for the service, one NAME=value a line (root only)
.TP
.I /var/lib/tezgah
the database (tezgah.db), pairing tokens, the drop folder and the logs
.SH SEE ALSO
.BR systemctl (1),
.BR journalctl (1);
the documents docs/operations.md and docs/configuration.md of the tezgah project.
`)
}

// roff escapes text for a roff line: backslashes, and a leading dot or
// quote that would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
