package dag

import (
	"context"
	"errors"
	"fmt"

	"github.com/engramhq/engram"
)

// Getter is what Walk needs from a Blockstore.
type Getter interface {
	Get(ctx context.Context, c engram.CID) ([]byte, error)
}

// SkipLinks, returned by a Walk callback, skips the links of the block just
// visited; the walk goes on with the rest.
//
//lint:ignore ST1012 a control value like fs.SkipDir, not a failure
var SkipLinks = errors.New("dag: skip links")

// Walk visits root and every block reachable from it through links, each
// once, depth first, a block before its links and links in the order they
// appear in the block. fn gets the bytes g returned (an engram.Blockstore
// verifies them); it must not keep data after it returns unless g says it
// may. An error from g or fn ends the walk and is returned wrapped with the
// CID and the block that linked to it; a missing block stays matchable with
// errors.Is(err, engram.ErrNotFound).
func Walk(ctx context.Context, g Getter, root engram.CID, fn func(c engram.CID, data []byte) error) error {
	type entry struct{ c, parent engram.CID }
	stack := []entry{{c: root}}
	seen := make(map[engram.CID]struct{})
	var links []engram.CID
	for len(stack) > 0 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[e.c]; ok {
			continue
		}
		seen[e.c] = struct{}{}
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := g.Get(ctx, e.c)
		if err != nil {
			return walkError(root, e.c, e.parent, err)
		}
		if err := fn(e.c, data); err != nil {
			if errors.Is(err, SkipLinks) {
				continue
			}
			return walkError(root, e.c, e.parent, err)
		}
		links, err = AppendBlockLinks(links[:0], e.c, data)
		if err != nil {
			return walkError(root, e.c, e.parent, err)
		}
		for i := len(links) - 1; i >= 0; i-- {
			if _, ok := seen[links[i]]; !ok {
				stack = append(stack, entry{c: links[i], parent: e.c})
			}
		}
	}
	return nil
}

func walkError(root, c, parent engram.CID, err error) error {
	if parent.Defined() {
		return fmt.Errorf("dag: walk %s: block %s (linked from %s): %w", root, c, parent, err)
	}
	return fmt.Errorf("dag: walk %s: %w", root, err)
}
