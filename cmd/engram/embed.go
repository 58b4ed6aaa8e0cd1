package main

import (
	"os"

	"github.com/spf13/pflag"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/embed"
)

// embedFlags configure the optional embedder: an OpenAI-compatible
// /v1/embeddings endpoint. Its token comes from ENGRAM_EMBED_TOKEN only,
// never a flag (flags show in process listings).
type embedFlags struct {
	url, model string
}

func (f *embedFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.url, "embed-url", "", "OpenAI-compatible embeddings endpoint (http://127.0.0.1:11434 for Ollama): new episodes and text-only recalls get embeddings; token from ENGRAM_EMBED_TOKEN")
	fs.StringVar(&f.model, "embed-model", "", "the embedding model to ask --embed-url for; also the stored embeddings' model")
}

// embedder returns the configured embedder, or nil without --embed-url.
func (f *embedFlags) embedder() (engram.Embedder, error) {
	if f.url == "" {
		if f.model != "" {
			return nil, usagef("--embed-model needs --embed-url")
		}
		return nil, nil
	}
	c, err := embed.New(embed.Options{URL: f.url, Model: f.model, Token: os.Getenv("ENGRAM_EMBED_TOKEN")})
	if err != nil {
		return nil, usagef("%v", err)
	}
	return c, nil
}
