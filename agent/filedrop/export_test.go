package filedrop

// Companion is the name of the result or error file written for a
// dropped file, for the tests outside the package.
var Companion = companion
