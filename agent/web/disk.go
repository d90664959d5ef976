package web

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tezgah/tezgah/internal/diskspace"
)

// diskCollector exports the data directory's disk space at scrape time.
// The agent reports it itself because a shop PC often runs no node
// exporter, and a full disk stops every accept (SQLite cannot commit).
type diskCollector struct {
	dir string
	log *slog.Logger
}

var (
	diskFreeDesc = prometheus.NewDesc("tezgah_data_dir_free_bytes",
		"Bytes the agent's user may still write on the data directory's disk.", nil, nil)
	diskSizeDesc = prometheus.NewDesc("tezgah_data_dir_size_bytes",
		"Size of the data directory's disk in bytes.", nil, nil)
)

func (c diskCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- diskFreeDesc
	ch <- diskSizeDesc
}

func (c diskCollector) Collect(ch chan<- prometheus.Metric) {
	free, size, err := diskspace.Of(c.dir)
	if err != nil {
		// Absent rather than 0: 0 would page someone about a full disk.
		c.log.Warn("metrics: cannot read the data directory's free space", "dir", c.dir, "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(diskFreeDesc, prometheus.GaugeValue, float64(free))
	ch <- prometheus.MustNewConstMetric(diskSizeDesc, prometheus.GaugeValue, float64(size))
}
