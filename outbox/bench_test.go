package outbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
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

// BenchmarkSaleCycle runs whole sales through the store the way the
// agent does with busy workers: 64 registers accept (concurrently), and
// one worker per terminal (50) finishes each sale and begins the next in
// one op (FinishNext), with a result the size of iyzico's. It reports
// the WAL pages written per sale (the automatic checkpoint is off for
// the count): the writer is what
// bounds the agent's end-to-end rate (docs/performance.md).
func BenchmarkSaleCycle(b *testing.B) {
	const registers, terminals = 64, 50
	path := filepath.Join(b.TempDir(), "o.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.do(ctx, func(w *wtx) error {
		_, err := w.tx.Exec(`PRAGMA wal_autocheckpoint = 0`)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	result := []byte(`{"status":"approved","payment":{"provider":"iyzico","payment_id":"29906173","payment_date":"20261202","auth_code":"195173","host_reference":"HR0000095173","amount":"1.00","currency":"TRY","card_type":"CREDIT_CARD","masked_pan":"552879******0008","batch_no":"1"}}`)
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	var pageSize int64
	if err := s.wdb.QueryRow(`PRAGMA page_size`).Scan(&pageSize); err != nil {
		b.Fatal(err)
	}
	work := make([]chan struct{}, terminals) // a wake-up per accepted sale
	for i := range work {
		work[i] = make(chan struct{}, b.N+registers)
	}
	var finished atomic.Int64
	allDone := make(chan struct{})
	var wg sync.WaitGroup
	for t := range terminals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			term := fmt.Sprintf("t%02d", t)
			var cur *Record
			for range work[t] {
				if cur == nil {
					r, err := s.Head(ctx, term)
					if err != nil || r == nil {
						continue
					}
					if _, err := s.Begin(ctx, r); err != nil {
						continue
					}
					cur = r
				}
				for cur != nil {
					_, next, _, err := s.FinishNext(ctx, cur, Approved, result, time.Now(), func() bool { return true })
					if err != nil {
						b.Error(err)
						return
					}
					if finished.Add(1) == int64(b.N) {
						close(allDone)
					}
					cur = next
				}
			}
		}()
	}
	var n atomic.Int64
	wal0 := walSize()
	b.SetParallelism(registers / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		reg := fmt.Sprintf("kasa-%d", n.Add(1))
		i := 0
		for pb.Next() {
			i++
			id := fmt.Sprintf("R%07d", i)
			t := int(n.Add(1)) % terminals
			body := []byte(`{"type":"sale","id":"` + id + `","terminal":"t00","amount":"1.00","currency":"TRY"}`)
			if _, _, err := s.Accept(ctx, NewRequest{Register: reg, ID: id, Terminal: fmt.Sprintf("t%02d", t), Op: "sale", Body: body,
				Deadline: time.Now().Add(90 * time.Second)}); err != nil {
				b.Error(err)
				return
			}
			work[t] <- struct{}{}
		}
	})
	<-allDone
	b.StopTimer()
	for _, c := range work {
		close(c)
	}
	wg.Wait()
	b.ReportMetric(float64(walSize()-wal0)/float64(pageSize+24)/float64(b.N), "pages/sale")
}
