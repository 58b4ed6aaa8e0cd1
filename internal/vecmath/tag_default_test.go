//go:build !purego

package vecmath

const puregoTag = false
