// Package logsink decides where the agent's log records go: a size-rotated
// file in the data directory always (gopkg.in/natefinch/lumberjack.v2),
// plus, under a service manager, the OS log — journald through standard
// error under systemd, the Windows Event Log through kardianos/service's
// logger — or standard error when run by hand.
//
// It only routes records. Levels and redaction are slog.Handler wrappers
// that go around the handler returned by New.
package logsink

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Rotation of the log file: 10 MB a file, 5 old files kept, compressed,
// so logs never fill a shop PC's disk (at most about 20 MB in all).
const (
	MaxSizeMB  = 10
	MaxBackups = 5
)

// File is the log file's path inside the data directory.
func File(dataDir string) string { return filepath.Join(dataDir, "logs", "tezgah.log") }

// SystemLogger is what kardianos/service's Logger offers: the Windows Event
// Log, or syslog.
type SystemLogger interface {
	Error(v ...any) error
	Warning(v ...any) error
	Info(v ...any) error
}

// Options say where records go besides the file.
type Options struct {
	Level slog.Leveler
	// Stderr receives text records (journald reads a systemd service's
	// standard error); nil for none.
	Stderr io.Writer
	// System receives records as plain messages (Windows Event Log); nil
	// for none.
	System SystemLogger
}

// New returns a handler writing to the rotated file under dataDir and to
// the places opts names, and a closer for the file.
func New(dataDir string, opts Options) (slog.Handler, io.Closer, error) {
	path := File(dataDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("logsink: %w", err)
	}
	f := &lumberjack.Logger{Filename: path, MaxSize: MaxSizeMB, MaxBackups: MaxBackups, Compress: true}
	ho := &slog.HandlerOptions{Level: opts.Level}
	hs := []slog.Handler{slog.NewJSONHandler(f, ho)}
	if opts.Stderr != nil {
		hs = append(hs, slog.NewTextHandler(opts.Stderr, ho))
	}
	if opts.System != nil {
		hs = append(hs, &systemHandler{log: opts.System, level: opts.Level})
	}
	return slog.NewMultiHandler(hs...), f, nil
}

// systemHandler writes each record as one line of key=value text to a
// SystemLogger, at the matching severity.
type systemHandler struct {
	log   SystemLogger
	level slog.Leveler
	attrs []slog.Attr
	group string
}

func (h *systemHandler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

func (h *systemHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	// A text handler without time and level: the Event Log has both.
	th := slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && (a.Key == slog.TimeKey || a.Key == slog.LevelKey) {
			return slog.Attr{}
		}
		return a
	}})
	var hh slog.Handler = th.WithAttrs(h.attrs)
	if h.group != "" {
		hh = hh.WithGroup(h.group)
	}
	if err := hh.Handle(context.Background(), r); err != nil {
		return err
	}
	msg := strings.TrimSuffix(b.String(), "\n")
	switch {
	case r.Level >= slog.LevelError:
		return h.log.Error(msg)
	case r.Level >= slog.LevelWarn:
		return h.log.Warning(msg)
	}
	return h.log.Info(msg)
}

func (h *systemHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup keeps it simple: the Event Log shows text, and the agent does
// not nest groups.
func (h *systemHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
