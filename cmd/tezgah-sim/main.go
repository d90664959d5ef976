// Command tezgah-sim runs the provider simulators as their own process,
// so register developers can work without a provider account, and tests
// can kill the agent while the provider side keeps its records.
//
// The iyzico Terminal API simulator is served at the root (its paths do
// not collide with other providers'); /_sim/ledger and /_sim/faults are
// the admin endpoints. The Paywall PhysicalAPI simulator is served under
// /paywall (its base address is http://ADDR/paywall, with its own
// /paywall/_sim/ledger and /paywall/_sim/faults). The Vomsis Sanal POS
// simulator answers on /api/vpos/v3/... (its base URL is
// http://ADDR/api/vpos/v3) with its own admin endpoints and fake bank 3-D
// page under /vomsis/_sim/. The fault rates and the seed apply to all;
// --latency is iyzico's and Vomsis's, --paywall-latency Paywall's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tezgah/tezgah/bridge/iyzico/iyzicosim"
	"github.com/tezgah/tezgah/bridge/paywall/paywallsim"
	"github.com/tezgah/tezgah/bridge/vomsis/vomsissim"
)

func main() {
	fs := flag.NewFlagSet("tezgah-sim", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:8418", "address to listen on; port 0 picks a free one")
	seed := fs.Uint64("seed", 1, "random seed for fault injection")
	latency := fs.Duration("latency", 0, "added to every business call (the customer presenting the card)")
	failRate := fs.Float64("fail-rate", 0, "share of business calls answered 500 before processing")
	rateLimit := fs.Float64("rate-limit-rate", 0, "share of business calls answered 429 with Retry-After")
	dropRate := fs.Float64("drop-rate", 0, "share of money movements recorded and then left unanswered (connection dropped)")
	tokenTTL := fs.Duration("token-ttl", 7199*time.Second, "access token lifetime")
	devices := fs.String("devices", "P00134,P00135", "comma-separated deviceUniqueIds")
	clientID := fs.String("client-id", iyzicosim.DemoClientID, "OAuth client id")
	clientSecret := fs.String("client-secret", iyzicosim.DemoClientSecret, "OAuth client secret")
	username := fs.String("username", iyzicosim.DemoUsername, "user name")
	password := fs.String("password", iyzicosim.DemoPassword, "password")
	pwTerminals := fs.String("paywall-terminals", paywallsim.DemoTerminal, "comma-separated Paywall TerminalIds (Guids)")
	pwKey := fs.String("paywall-api-key", paywallsim.DemoAPIKey, "Paywall apikeyprivate")
	pwClient := fs.String("paywall-api-client", paywallsim.DemoAPIClient, "Paywall apiclientprivate")
	pwLatency := fs.Duration("paywall-latency", 0, "added to every Paywall business call's answer")
	pwCard := fs.Duration("paywall-card-time", 0, "how long a Paywall terminal takes from picking a command up to its result")
	pwPickup := fs.Duration("paywall-pickup-delay", 0, "how long a Paywall terminal takes to receive a command (rollback works only before)")
	appKey := fs.String("vomsis-app-key", vomsissim.DemoAppKey, "Vomsis app_key")
	appSecret := fs.String("vomsis-app-secret", vomsissim.DemoAppSecret, "Vomsis app_secret")
	replay := fs.Bool("replay-references", false, "answer a reused iyzico transactionReferenceId with its first answer instead of acting again")
	fs.Parse(os.Args[1:])

	sim := iyzicosim.New(iyzicosim.Options{
		ClientID: *clientID, ClientSecret: *clientSecret, Username: *username, Password: *password,
		Devices: strings.Split(*devices, ","), TokenTTL: *tokenTTL, Seed: *seed, ReplayReferences: *replay,
	})
	sim.SetFaults(iyzicosim.Faults{Latency: *latency, FailRate5xx: *failRate, RateLimitRate: *rateLimit, DropAfterRecord: *dropRate})
	pw := paywallsim.New(paywallsim.Options{APIKey: *pwKey, APIClient: *pwClient, Terminals: strings.Split(*pwTerminals, ","),
		PickupDelay: *pwPickup, Seed: *seed})
	pw.SetFaults(paywallsim.Faults{Latency: *pwLatency, CardTime: *pwCard, FailRate5xx: *failRate, RateLimitRate: *rateLimit, DropAfterRecord: *dropRate})
	vsim := vomsissim.New(vomsissim.Options{AppKey: *appKey, AppSecret: *appSecret, Seed: *seed})
	vsim.SetFaults(vomsissim.Faults{Latency: *latency, FailRate5xx: *failRate, RateLimitRate: *rateLimit, DropAfterRecord: *dropRate})
	mux := http.NewServeMux()
	mux.Handle("/paywall/", http.StripPrefix("/paywall", pw))
	mux.Handle(vomsissim.APIPrefix+"/", vsim)
	mux.Handle(vomsissim.AdminPrefix+"/", vsim)
	mux.Handle("/", sim)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tezgah-sim:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("tezgah-sim: iyzico Terminal API simulator listening on http://%s\n", ln.Addr())
	fmt.Printf("tezgah-sim: Paywall PhysicalAPI simulator at http://%s/paywall\n", ln.Addr())
	fmt.Printf("tezgah-sim: Vomsis Sanal POS simulator at http://%s%s\n", ln.Addr(), vomsissim.APIPrefix)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "tezgah-sim:", err)
		os.Exit(1)
	}
}
