// Command idle measures what an idle demo agent costs a shop PC: it starts
// `tezgah run --demo` (a binary built from this checkout), lets it settle,
// then reads its CPU time and resident memory from /proc over a window.
// Linux only. Usage:
//
//	go run ./bench/idle -settle 60s -window 60s
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	settle := flag.Duration("settle", time.Minute, "how long the agent runs before measuring")
	window := flag.Duration("window", time.Minute, "how long CPU time is measured")
	flag.Parse()
	if err := run(*settle, *window); err != nil {
		fmt.Fprintln(os.Stderr, "idle:", err)
		os.Exit(1)
	}
}

func run(settle, window time.Duration) error {
	dir, err := os.MkdirTemp("", "tezgah-idle-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "tezgah")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tezgah")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", "--demo", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt) // a graceful stop, as a service manager does
		cmd.Wait()
	}()
	// Wait for the "listening" line, so start-up work is not counted.
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	pid := cmd.Process.Pid
	time.Sleep(settle) // measuring an idle process: waiting is the point
	t0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	time.Sleep(window)
	t1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	rss, err := rssKB(pid)
	if err != nil {
		return err
	}
	const hz = 100 // USER_HZ on Linux
	cpu := float64(t1-t0) / hz
	fmt.Printf("idle demo agent: CPU %.2fs in %v (%.3f%%), RSS %.1f MB\n",
		cpu, window, 100*cpu/window.Seconds(), float64(rss)/1024)
	return nil
}

// cpuTicks returns utime+stime of pid from /proc/pid/stat.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" that closes the command name; utime and stime
	// are fields 14 and 15 of the whole line.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, nil
}

func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}
