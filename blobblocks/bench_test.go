package blobblocks_test

import (
	"crypto/rand"
	"testing"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/blobblocks"
	"github.com/engramhq/engram/dag"
)

// BenchmarkPush pushes 2,000 raw 4 KiB blocks from a fresh blocks.db to an
// empty remote per iteration and reports MB/s of block bytes:
//
//	go test -run '^$' -bench Push -benchtime 3x ./blobblocks/
func BenchmarkPush(b *testing.B) {
	const n, size = 2000, 4 << 10
	for _, backend := range []string{"file", "s3"} {
		b.Run(backend, func(b *testing.B) {
			if backend == "s3" {
				s3Server(b)
			}
			local := localStore(b)
			blocks := make([]engram.Block, n)
			for i := range blocks {
				data := make([]byte, size)
				rand.Read(data)
				blocks[i] = engram.Block{CID: dag.SumRaw(data), Data: data}
			}
			if err := local.PutMany(b.Context(), blocks); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(n * size)
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				var url string
				if backend == "file" {
					url = "file://" + b.TempDir()
				} else {
					url = s3Server(b).newURL(b)
				}
				remote, err := blobblocks.Open(b.Context(), openURL(b, url), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				st, err := blobblocks.Replicate(b.Context(), local, remote, nil)
				if err != nil || st.Blocks != n {
					b.Fatalf("%+v, %v", st, err)
				}
			}
		})
	}
}

// BenchmarkPull pulls 2,000 raw 4 KiB blocks from a file:// remote into a
// fresh blocks.db per iteration:
//
//	go test -run '^$' -bench Pull -benchtime 3x ./blobblocks/
func BenchmarkPull(b *testing.B) {
	const n, size = 2000, 4 << 10
	remote, err := blobblocks.Open(b.Context(), openURL(b, "file://"+b.TempDir()), nil)
	if err != nil {
		b.Fatal(err)
	}
	blocks := make([]engram.Block, n)
	for i := range blocks {
		data := make([]byte, size)
		rand.Read(data)
		blocks[i] = engram.Block{CID: dag.SumRaw(data), Data: data}
	}
	if err := remote.PutMany(b.Context(), blocks); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n * size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		local := localStore(b)
		b.StartTimer()
		st, err := blobblocks.Replicate(b.Context(), remote, local, nil)
		if err != nil || st.Blocks != n {
			b.Fatalf("%+v, %v", st, err)
		}
	}
}
