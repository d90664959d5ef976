#!/bin/sh
# Builds the example register and the conformance program with fpc 3.2
# (Delphi mode) into ./bin.
set -eu
cd "$(dirname "$0")"
mkdir -p bin/units
FPC="fpc -Mdelphi -O2 -vewn -Sew -FUbin/units -FEbin"
$FPC example_register.pas
$FPC conformance.pas
$FPC tests.pas
if [ "${1:-}" = test ]; then ./bin/tests; fi
