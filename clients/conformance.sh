#!/bin/sh
# Runs the client kit's conformance scenario for every language whose
# toolchain is installed (CI=true: all must be). See clients/README.md.
set -eu
cd "$(dirname "$0")/.."
exec go test -race -count=1 -v ./clients/ "$@"
