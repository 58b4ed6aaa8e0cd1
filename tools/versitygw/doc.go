// Package versitygw pins, by module version, the S3-protocol server (versitygw) the blob
// package's S3 tests run against. It is a module of its own, separate from tools/ and from
// engram, so the server's large dependency graph never reaches either go.mod. Built into
// .bin/versitygw by `make tools`.
package versitygw
