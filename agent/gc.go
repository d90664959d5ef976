package agent

import (
	"os"
	"runtime/debug"
)

// GC settings for the agent process. A collection cycle takes CPU from
// the accept path for a few milliseconds, and at a few thousand sales a
// second the default (GOGC=100) ran one every ~100 ms: most of the
// accept p99 at those rates (BenchmarkAcceptLatencyPaced,
// docs/performance.md). Four times the live heap between cycles costs
// a few megabytes on an agent whose live heap is a few megabytes, and the
// soft limit keeps a large live heap (a long outage's backlog) from
// growing five-fold.
const (
	gcPercent   = 400
	memoryLimit = 256 << 20
)

// TuneGC applies the agent's GC settings to this process, except where
// GOGC or GOMEMLIMIT in the environment say otherwise: they stay the
// operator's way to override. Call it once, before serving.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
}
