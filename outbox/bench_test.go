package outbox

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAccept measures a durable accept (commit + fsync) with many
// concurrent callers, which is where group commit pays: run with
// -cpu 1,64 style parallelism via b.SetParallelism.
func BenchmarkAccept(b *testing.B) {
	for _, par := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", par), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "o.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			lat := make([]time.Duration, b.N+64)
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					id := fmt.Sprint("R", i)
					t0 := time.Now()
					if _, _, err := s.Accept(context.Background(), NewRequest{ID: id, Terminal: "k", Op: "sale", Body: []byte(id)}); err != nil {
						b.Error(err)
						return
					}
					lat[i-1] = time.Since(t0)
				}
			})
			b.StopTimer()
			l := lat[:n.Load()]
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			b.ReportMetric(float64(l[len(l)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(l[len(l)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
