// Package archtest holds the architecture test: every package of the module
// imports only what the "may import" column of ARCHITECTURE.md's package
// table allows, every package has a row there, and every row is a package.
// The table is parsed from ARCHITECTURE.md itself, so the document and the
// code cannot drift apart. The package has no code besides its test.
package archtest
