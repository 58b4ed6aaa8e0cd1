package boltcache

import (
	bolt "go.etcd.io/bbolt"
	"io"
	"log/slog"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type boltTx = bolt.Tx
