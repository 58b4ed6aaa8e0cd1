package vector

// cand is a node and its distance to the query (smaller is nearer).
type cand struct {
	d  float32
	id uint32
}

// maxHeap keeps the nearest len(h) candidates seen, the farthest on top.
type maxHeap []cand

func (h *maxHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].d >= a[i].d {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *maxHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	*h = a[:n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].d > a[l].d {
			m = r
		}
		if a[i].d >= a[m].d {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	return top
}

// replaceTop swaps the farthest candidate for c (nearer) in one sift.
func (h *maxHeap) replaceTop(c cand) {
	a := *h
	a[0] = c
	n := len(a)
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].d > a[l].d {
			m = r
		}
		if a[i].d >= a[m].d {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
}

// offer keeps c if it is among the nearest k seen.
func (h *maxHeap) offer(c cand, k int) {
	if len(*h) < k {
		h.push(c)
	} else if c.d < (*h)[0].d {
		h.replaceTop(c)
	}
}

// minHeap orders candidates to expand, the nearest on top.
type minHeap []cand

func (h *minHeap) push(c cand) {
	*h = append(*h, c)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].d <= a[i].d {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *minHeap) pop() cand {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	*h = a[:n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].d < a[l].d {
			m = r
		}
		if a[i].d <= a[m].d {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	return top
}
