package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/engramhq/engram"
)

// LagResult is what engram bench lag prints: how long after a write was
// acknowledged by --server each other node served it.
type LagResult struct {
	Writes int           `json:"writes"`
	Nodes  int           `json:"nodes"` // readers
	P50    time.Duration `json:"p50_ns"`
	P90    time.Duration `json:"p90_ns"`
	P99    time.Duration `json:"p99_ns"`
	Max    time.Duration `json:"max_ns"`
}

func (a *app) benchLagCmd() *cobra.Command {
	var (
		nodes  []string
		writes int
	)
	cmd := &cobra.Command{
		Use:   "lag --server URL --nodes URL,...",
		Short: "Measure cross-node visibility lag: a write on --server until --nodes serve it",
		Long: `Write to --server and measure how long each of --nodes (servers on the same
durable store, each with its own cache) takes to serve the write. Every
node reads one episode first, so it is cached there; then each of --writes
steps appended on --server is polled for on every node until that node's
answer holds it. The lag is from the write's acknowledgement to the first
answer that holds it, so it includes one request's round trip.

Example:
  engram bench lag --server http://127.0.0.1:7437 --nodes http://127.0.0.1:7438,http://127.0.0.1:7439 --writes 200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if a.server == "" || len(nodes) == 0 {
				return usagef("engram bench lag needs --server and --nodes")
			}
			if writes < 1 {
				return usagef("--writes must be at least 1")
			}
			res, err := benchLag(cmd.Context(), strings.TrimSuffix(a.server, "/"), trimSlashes(nodes), a.token, writes)
			if err != nil {
				return err
			}
			return a.print(res, func(w io.Writer) {
				fmt.Fprintf(w, "visibility lag over %d writes on %d nodes: p50 %s, p90 %s, p99 %s, max %s\n",
					res.Writes, res.Nodes, res.P50, res.P90, res.P99, res.Max)
			})
		},
	}
	cmd.Flags().StringSliceVar(&nodes, "nodes", nil, "the servers that read (comma-separated URLs)")
	cmd.Flags().IntVar(&writes, "writes", 200, "writes to measure")
	return cmd
}

// lagDo sends one request and decodes a 2xx answer into out.
func lagDo(ctx context.Context, hc *http.Client, method, url, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func benchLag(ctx context.Context, writer string, readers []string, token string, writes int) (*LagResult, error) {
	hc := &http.Client{Timeout: time.Minute}
	var ep engram.Episode
	if err := lagDo(ctx, hc, "POST", writer+"/v1/episodes", token, &engram.Episode{TaskDescription: "benchmark: cross-node visibility", Steps: []engram.Step{}}, &ep); err != nil {
		return nil, err
	}
	path := "/v1/episodes/" + ep.ID.String()
	defer lagDo(context.Background(), hc, "DELETE", writer+path, token, nil, nil)
	for _, r := range readers {
		if err := lagDo(ctx, hc, "GET", r+path, token, nil, &engram.Episode{}); err != nil {
			return nil, err
		}
	}
	var lags []time.Duration
	for i := range writes {
		if err := lagDo(ctx, hc, "POST", writer+path+"/steps", token, map[string]string{"tool": "bench", "action": fmt.Sprint("write ", i)}, nil); err != nil {
			return nil, err
		}
		acked := time.Now()
		type seen struct {
			lag time.Duration
			err error
		}
		done := make(chan seen, len(readers))
		for _, r := range readers {
			go func() {
				for {
					var got engram.Episode
					if err := lagDo(ctx, hc, "GET", r+path, token, nil, &got); err != nil {
						done <- seen{err: err}
						return
					}
					if len(got.Steps) > i {
						done <- seen{lag: time.Since(acked)}
						return
					}
				}
			}()
		}
		for range readers {
			s := <-done
			if s.err != nil {
				return nil, s.err
			}
			lags = append(lags, s.lag)
		}
	}
	slices.Sort(lags)
	q := func(p float64) time.Duration { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	return &LagResult{Writes: writes, Nodes: len(readers), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: lags[len(lags)-1]}, nil
}
