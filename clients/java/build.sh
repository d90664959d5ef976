#!/bin/sh
# Builds the library (Java 11+), the example register, the conformance
# program and the JSON tests with javac into ./build.
#   ./build.sh        build
#   ./build.sh test   build and run the JSON tests
set -eu
cd "$(dirname "$0")"
rm -rf build && mkdir -p build
javac -Xlint:all -Werror --release 11 -d build $(find src/main/java -name '*.java')
javac -Xlint:all -Werror --release 11 -cp build -d build examples/Register.java conformance/Conformance.java tests/JsonTest.java
if [ "${1:-}" = test ]; then java -cp build JsonTest; fi
