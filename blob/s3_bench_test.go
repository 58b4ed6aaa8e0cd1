package blob_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

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
