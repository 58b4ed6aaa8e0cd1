package vector_test

import (
	"fmt"

	"github.com/engramhq/engram"
	"github.com/engramhq/engram/vector"
)

func Example() {
	ix, err := vector.NewHNSW(vector.Options{Dim: 3}) // cosine, M=16
	if err != nil {
		panic(err)
	}
	north, east, up := engram.UUID{1}, engram.UUID{2}, engram.UUID{3}
	_ = ix.Add(north, []float32{0, 1, 0})
	_ = ix.Add(east, []float32{1, 0, 0})
	_ = ix.Add(up, []float32{0, 0.1, 1})

	// 1 - cos: 1 - 1/sqrt(1.05) and 1 - 0.3/(sqrt(1.05)*sqrt(1.01)).
	hits, _ := ix.Search([]float32{0.1, 1, 0.2}, 2, nil)
	for _, h := range hits {
		fmt.Printf("%x %.3f\n", h.Key[0], h.Distance)
	}
	_, err = ix.Search([]float32{1, 2}, 2, nil)
	fmt.Println(engram.ErrorField(err), err)
	// Output:
	// 1 0.024
	// 3 0.709
	// vector vector: has 2 dimensions; the index has 3
}
