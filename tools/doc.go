// Package tools pins, by module version, the programs engram's Makefile builds into .bin/:
// linters and the real servers integration tests start. It is a module of its own so their
// dependencies never reach engram's go.mod. Install with `make tools`.
package tools
