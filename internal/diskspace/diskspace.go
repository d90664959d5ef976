// Package diskspace tells how much room is left on the file system of a
// directory, portably: the agent exports it (a shop PC may run no node
// exporter) and `tezgah doctor` checks it before a full disk stops the
// outbox from accepting sales.
package diskspace
