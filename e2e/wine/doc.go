// Package wine is the Windows test lane: its tests run tezgah's Windows
// build under Wine, in a Wine prefix of their own, and drive it from
// Linux the way a shop PC's programs would: a register over WebSocket,
// a back-office program dropping a file, the Service Control Manager,
// msiexec.
//
// The lane needs Wine (Debian: wine64; Wine 8.0 or later) and the MinGW-w64
// compiler (gcc-mingw-w64-x86-64-win32), which builds two test-only Windows
// programs from testdata/: a stand-in for bcryptprimitives.dll, which Wine
// 8.0 lacks and Go's Windows runtime needs, and a writer that holds a file
// open with no sharing. Without them the tests skip and say what to
// install; under CI (CI set) they fail instead. What Wine cannot prove is
// listed in docs/operations.md ("Windows: what Wine cannot prove").
//
// Run it on its own, with a generous timeout (the first Wine boot takes a
// while on a loaded machine):
//
//	go test -timeout 15m ./e2e/wine/
package wine
