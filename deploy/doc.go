// Package deploy holds what a chain needs to watch its tezgah agents with
// the Prometheus and Grafana it already runs (docs/fleet.md): alerting
// rules with their promtool tests (prometheus/tezgah-rules.yml), the
// shop-side Prometheus agent configuration (prometheus/shop-agent.yml)
// and a fleet dashboard (grafana/tezgah.json).
//
// There is no Go code to ship here; the package's tests hold the files to
// the agent: every metric they name is one a running agent exports, the
// rules pass promtool, and the shop configuration really carries a
// demo agent's series, labelled with agent and shop, to a central store.
package deploy
