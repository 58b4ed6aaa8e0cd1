package blob_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/engramhq/engram/blob"
)

// BenchmarkS3 compares the s3 store with a plain aws-sdk PutObject /
// GetObject loop against the same local versitygw, per object size.
//
//	go test -run '^$' -bench BenchmarkS3 -benchtime 20x ./blob/
func BenchmarkS3(b *testing.B) {
	g := s3Server(b)
	bucket := g.newBucket(b)
	ctx := context.Background()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	raw := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(g.endpoint), UsePathStyle: true, HTTPClient: &http.Client{Transport: tr},
		Credentials: credentials.NewStaticCredentialsProvider(g.creds.AccessKeyID, g.creds.SecretAccessKey, ""),
	})
	st, err := blob.Open(ctx, g.url(bucket, "bench"), &blob.Options{Credentials: &g.creds})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, size := range []int{64 << 10, 4 << 20} {
		data := bytes.Repeat([]byte("b"), size)
		key := fmt.Sprintf("obj-%d", size)
		// The Get benchmarks read what these store, whichever run.
		if _, err := st.Put(ctx, key, bytes.NewReader(data), blob.PutOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("bench/raw-" + key), Body: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("Put/blob/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := st.Put(ctx, key, bytes.NewReader(data), blob.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Put/raw/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("bench/raw-" + key), Body: bytes.NewReader(data)}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Get/blob/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				rc, err := st.Get(ctx, key, 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, rc); err != nil || n != int64(size) {
					b.Fatal(n, err)
				}
				rc.Close()
			}
		})
		b.Run(fmt.Sprintf("Get/raw/%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("bench/raw-" + key)})
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, out.Body); err != nil || n != int64(size) {
					b.Fatal(n, err)
				}
				out.Body.Close()
			}
		})
	}
}

// BenchmarkS3Pair runs the s3 store and the plain aws-sdk loop alternately,
// one operation each per iteration, so that both see the same moments of a
// shared machine's load; it reports each side's wall and client-CPU time
// per operation (getrusage of this process: the server's work is
// versitygw's) and blob's throughput as a share of the raw loop's.
//
//	go test -run '^$' -bench BenchmarkS3Pair -benchtime 200x ./blob/
func BenchmarkS3Pair(b *testing.B) {
	g := s3Server(b)
	bucket := g.newBucket(b)
	ctx := context.Background()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	raw := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(g.endpoint), UsePathStyle: true, HTTPClient: &http.Client{Transport: tr},
		Credentials: credentials.NewStaticCredentialsProvider(g.creds.AccessKeyID, g.creds.SecretAccessKey, ""),
	})
	st, err := blob.Open(ctx, g.url(bucket, "pair"), &blob.Options{Credentials: &g.creds})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for _, size := range []int{64 << 10, 4 << 20} {
		data := bytes.Repeat([]byte("p"), size)
		key := fmt.Sprintf("obj-%d", size)
		rawKey := aws.String("pair/raw-" + key)
		ops := map[string][2]func() error{
			"Put": {
				func() error { _, err := st.Put(ctx, key, bytes.NewReader(data), blob.PutOptions{}); return err },
				func() error {
					_, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: rawKey, Body: bytes.NewReader(data)})
					return err
				},
			},
			"Get": {
				func() error {
					rc, err := st.Get(ctx, key, 0, -1)
					if err != nil {
						return err
					}
					defer rc.Close()
					if n, err := io.Copy(io.Discard, rc); err != nil || n != int64(size) {
						return fmt.Errorf("read %d bytes of %d: %v", n, size, err)
					}
					return nil
				},
				func() error {
					out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: rawKey})
					if err != nil {
						return err
					}
					defer out.Body.Close()
					if n, err := io.Copy(io.Discard, out.Body); err != nil || n != int64(size) {
						return fmt.Errorf("read %d bytes of %d: %v", n, size, err)
					}
					return nil
				},
			},
		}
		for _, op := range []string{"Put", "Get"} {
			fns := ops[op]
			if err := fns[0](); err != nil { // the Gets read what these store
				b.Fatal(err)
			}
			if err := fns[1](); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%dKiB", op, size>>10), func(b *testing.B) {
				var wall, cpu [2]time.Duration
				i := 0
				for b.Loop() {
					side := i % 2 // which side goes first alternates too
					for _, s := range []int{side, 1 - side} {
						c0, t0 := cpuTime(b), time.Now()
						if err := fns[s](); err != nil {
							b.Fatal(err)
						}
						wall[s] += time.Since(t0)
						cpu[s] += cpuTime(b) - c0
					}
					i++
				}
				n := float64(i)
				b.ReportMetric(float64(wall[0].Nanoseconds())/n, "blob-ns/op")
				b.ReportMetric(float64(wall[1].Nanoseconds())/n, "raw-ns/op")
				b.ReportMetric(float64(cpu[0].Nanoseconds())/n, "blob-cpu-ns/op")
				b.ReportMetric(float64(cpu[1].Nanoseconds())/n, "raw-cpu-ns/op")
				b.ReportMetric(float64(wall[1])/float64(wall[0]), "blob/raw-throughput")
			})
		}
	}
}

// cpuTime is this process's user and system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
