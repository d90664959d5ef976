#!/bin/sh
# Builds the library, the example register, the conformance program and the
# JSON tests with Mono's mcs (.NET Framework 4.x profile) into ./bin.
#   ./build.sh        build
#   ./build.sh test   build and run the JSON tests
set -eu
cd "$(dirname "$0")"
mkdir -p bin
MCS="mcs -nologo -warnaserror+ -langversion:7.2 -sdk:4.6.2"
$MCS -target:library -out:bin/Tezgah.dll Json.cs Tezgah.cs
$MCS -r:bin/Tezgah.dll -out:bin/Register.exe Example/Register.cs
$MCS -r:bin/Tezgah.dll -out:bin/Conformance.exe Conformance/Conformance.cs
$MCS -r:bin/Tezgah.dll -out:bin/JsonTests.exe Tests/JsonTests.cs
if [ "${1:-}" = test ]; then mono bin/JsonTests.exe; fi
