// Package vectortest generates seeded, clustered vector data for the vector
// index's tests and benchmarks, and measures recall.
//
// i.i.d. random vectors make every approximate index look bad and say
// nothing about real embeddings, which lie near a low-dimensional manifold.
// Clustered draws Latent-dimensional points around Clusters centres, maps
// them linearly to Dim dimensions, adds isotropic noise and normalises.
package vectortest

import (
	"math"
	"math/rand/v2"

	"github.com/engramhq/engram"
)

// Gen describes a clustered distribution. The zero value of a field means
// its default.
type Gen struct {
	Dim      int     // 0: 384
	Latent   int     // 0: 32
	Clusters int     // 0: 64
	Spread   float64 // within-cluster std-dev in latent space relative to the centres' (1); 0: 0.35
	Noise    float64 // per-component noise std-dev after the map, relative; 0: 0.05
	Seed     uint64
}

// Data is a drawn data set.
type Data struct {
	Keys    []engram.UUID
	Vectors [][]float32
}

// Sampler draws vectors from one instance of a Gen (one linear map, one set
// of centres).
type Sampler struct {
	g       Gen
	mapping [][]float64 // Dim x Latent
	centres [][]float64 // Clusters x Latent
	r       *rand.Rand
}

// New returns a sampler for g.
func New(g Gen) *Sampler {
	if g.Dim == 0 {
		g.Dim = 384
	}
	if g.Latent == 0 {
		g.Latent = 32
	}
	if g.Clusters == 0 {
		g.Clusters = 64
	}
	if g.Spread == 0 {
		g.Spread = 0.35
	}
	if g.Noise == 0 {
		g.Noise = 0.05
	}
	r := rand.New(rand.NewPCG(g.Seed, 0x5eed))
	s := &Sampler{g: g, r: r}
	s.mapping = make([][]float64, g.Dim)
	for i := range s.mapping {
		row := make([]float64, g.Latent)
		for j := range row {
			row[j] = r.NormFloat64() / math.Sqrt(float64(g.Latent))
		}
		s.mapping[i] = row
	}
	s.centres = make([][]float64, g.Clusters)
	for i := range s.centres {
		c := make([]float64, g.Latent)
		for j := range c {
			c[j] = r.NormFloat64()
		}
		s.centres[i] = c
	}
	return s
}

// Vector draws one unit vector.
func (s *Sampler) Vector() []float32 {
	g := s.g
	c := s.centres[s.r.IntN(g.Clusters)]
	z := make([]float64, g.Latent)
	for j := range z {
		z[j] = c[j] + g.Spread*s.r.NormFloat64()
	}
	out := make([]float32, g.Dim)
	var norm float64
	for i, row := range s.mapping {
		var x float64
		for j, w := range row {
			x += w * z[j]
		}
		x += g.Noise * s.r.NormFloat64()
		out[i] = float32(x)
		norm += x * x
	}
	inv := 1 / math.Sqrt(norm)
	for i := range out {
		out[i] = float32(float64(out[i]) * inv)
	}
	return out
}

// Draw returns n vectors with keys derived from the seed and the position
// (so two draws of the same Gen agree).
func (s *Sampler) Draw(n int) Data {
	d := Data{Keys: make([]engram.UUID, n), Vectors: make([][]float32, n)}
	for i := range n {
		d.Keys[i] = Key(s.g.Seed, i)
		d.Vectors[i] = s.Vector()
	}
	return d
}

// Key returns the i-th key of a data set drawn with seed.
func Key(seed uint64, i int) engram.UUID {
	var u engram.UUID
	x := seed*0x9e3779b97f4a7c15 + uint64(i)
	for b := range 2 {
		x ^= x >> 33
		x *= 0xff51afd7ed558ccd
		x ^= x >> 33
		for j := range 8 {
			u[b*8+j] = byte(x >> (8 * j))
		}
		x += uint64(i) + 1
	}
	u[0], u[1], u[2], u[3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i) // unique per i
	return u
}

// Recall returns |got ∩ want| / |want| over the queries, with want the
// exact answers (at most k of each compared).
func Recall(got, want [][]engram.UUID, k int) float64 {
	hit, total := 0, 0
	for i := range want {
		w := want[i]
		if len(w) > k {
			w = w[:k]
		}
		set := make(map[engram.UUID]bool, len(w))
		for _, u := range w {
			set[u] = true
		}
		g := got[i]
		if len(g) > k {
			g = g[:k]
		}
		for _, u := range g {
			if set[u] {
				hit++
			}
		}
		total += len(w)
	}
	if total == 0 {
		return 1
	}
	return float64(hit) / float64(total)
}
