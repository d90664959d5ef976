//go:build benchpprof

package main

// Built only with -tags benchpprof (go run ./bench/busy -pprof DIR): the
// profile endpoints on the loopback address in $TEZGAH_PPROF. The
// shipped agent has none.

import (
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("TEZGAH_PPROF"); addr != "" {
		go func() { fmt.Fprintln(os.Stderr, "pprof:", http.ListenAndServe(addr, nil)) }()
	}
}
