package ups

import (
	"bytes"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"slices"
	"strconv"
	"sync"
)

// envelope is the part of an enrichment body around the records:
// {"siteId":N,"type":"grouped","data":[ ... ]}. siteId is sent only when
// configured (Personalization customers have none) and type only for
// grouped linking, because the API applies explicit linking when it is
// absent.
type envelope struct {
	prefix []byte
	suffix []byte
}

func newEnvelope(siteID int, grouped bool) envelope {
	p := []byte(`{`)
	if siteID != 0 {
		p = append(p, `"siteId":`...)
		p = strconv.AppendInt(p, int64(siteID), 10)
		p = append(p, ',')
	}
	if grouped {
		p = append(p, `"type":"grouped",`...)
	}
	p = append(p, `"data":[`...)
	return envelope{prefix: p, suffix: []byte(`]}`)}
}

// plainSize is the uncompressed size of a body holding records of the given
// total size.
func (e envelope) plainSize(n, recordBytes int) int {
	return len(e.prefix) + len(e.suffix) + recordBytes + max(n-1, 0)
}

// gzipOverhead bounds what gzip adds to data that does not compress: the
// 10-byte header, the 8-byte trailer, and 5 bytes per deflate block (Go's
// compressor ends a block every 16 Ki tokens and stores a block that would
// not shrink), plus one block of slack.
func gzipOverhead(plain int) int { return 18 + 5*(plain/(16<<10)+2) }

// compressor compresses request bodies; its writers and buffers are pooled
// because every request needs one and they are large.
type compressor struct {
	level int
	pool  sync.Pool // of *gzip.Writer
}

// compress gzips the envelope around records into a new slice.
func (c *compressor) compress(env envelope, records [][]byte, plainHint int) ([]byte, error) {
	out := bytes.NewBuffer(make([]byte, 0, plainHint/3+64))
	zw, _ := c.pool.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(out, c.level); err != nil {
			return nil, fmt.Errorf("ups: gzip: %w", err)
		}
	} else {
		zw.Reset(out)
	}
	defer c.pool.Put(zw)
	// One Write of the whole plain body: the compressor's per-call work
	// (a block check per Write) made a Write per record cost more than
	// the compression itself.
	plain := getPlain(plainHint)
	defer putPlain(plain)
	*plain = append(*plain, env.prefix...)
	for i, r := range records {
		if i > 0 {
			*plain = append(*plain, ',')
		}
		*plain = append(*plain, r...)
	}
	*plain = append(*plain, env.suffix...)
	if _, err := zw.Write(*plain); err != nil {
		return nil, fmt.Errorf("ups: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("ups: gzip: %w", err)
	}
	return out.Bytes(), nil
}

var plains sync.Pool // of *[]byte: plain bodies, assembled to be compressed

func getPlain(size int) *[]byte {
	if p, ok := plains.Get().(*[]byte); ok && cap(*p) >= size {
		*p = (*p)[:0]
		return p
	}
	p := make([]byte, 0, size)
	return &p
}

// putPlain keeps buffers up to a few bodies' size: a rare huge one (a
// test's limits) should not stay pinned in the pool.
func putPlain(p *[]byte) {
	if cap(*p) <= 1<<20 {
		plains.Put(p)
	}
}

// ratios are the compressed/plain sizes of recent bodies at each level.
type ratios struct{ best, fast float64 }

// update folds in what one fit measured (zero: that level was not used).
func (r ratios) update(m ratios) ratios {
	if m.best > 0 {
		r.best = 0.7*r.best + 0.3*m.best
	}
	if m.fast > 0 {
		r.fast = 0.7*r.fast + 0.3*m.fast
	}
	return r
}

// fit finds how many of cands, from the first, fill a body within
// MaxBodyBytes, and compresses them. When every candidate fits by the
// recent ratio of the fast level, it tries that level first: a request
// that holds every candidate is as full as it can be, whatever its size,
// and the fast level costs a third of the best one. Otherwise, or when
// the fast body came out too large, it sizes by the recent ratio of the
// best level, then corrects with the measured one: usually one
// compression, at most a few when the records compress unlike the last
// ones.
func (b *Batcher) fit(cands []*entry, r ratios) (req *request, measured ratios, err error) {
	// plain[k] is the plain size of a body with the first k records.
	plain := make([]int, len(cands)+1)
	sum := 0
	for i, e := range cands {
		sum += len(e.data)
		plain[i+1] = b.env.plainSize(i+1, sum)
	}
	limit := b.cfg.MaxBodyBytes
	// most returns the most records whose body, at ratio, stays under the
	// target (at least one: a record that fits alone was checked at Admit).
	most := func(ratio float64) int {
		k := len(cands)
		for k > 1 && float64(plain[k])*ratio+float64(gzipOverhead(0)) > fillTarget*float64(limit) {
			k--
		}
		return k
	}
	all := len(cands)
	if most(r.fast) == all {
		body, err := b.fast.compress(b.env, dataOf(cands), plain[all])
		if err != nil {
			return nil, measured, err
		}
		measured.fast = float64(len(body)) / float64(plain[all])
		if len(body) <= limit {
			return &request{entries: slices.Clone(cands), body: body, plain: plain[all]}, measured, nil
		}
	}
	n := most(r.best)
	ratio := r.best
	var best []byte
	bestN := 0
	for range 4 {
		body, err := b.comp.compress(b.env, dataOf(cands[:n]), plain[n])
		if err != nil {
			return nil, measured, err
		}
		ratio = float64(len(body)) / float64(plain[n])
		measured.best = ratio
		if len(body) <= limit {
			best, bestN = body, n
			if n == len(cands) || float64(len(body)) >= fillTarget*float64(limit) {
				break
			}
			next := most(ratio)
			if next <= n {
				break
			}
			n = next
			continue
		}
		next := min(most(ratio), n-1)
		if next <= bestN {
			break
		}
		n = next
	}
	// Halving always ends: one record fits alone.
	for best == nil {
		n = max(n/2, 1)
		body, err := b.comp.compress(b.env, dataOf(cands[:n]), plain[n])
		if err != nil {
			return nil, measured, err
		}
		if len(body) <= limit || n == 1 {
			best, bestN = body, n
		}
	}
	return &request{entries: slices.Clone(cands[:bestN]), body: best, plain: plain[bestN]}, measured, nil
}

// compressPinned builds the body of a pinned group, without the lock (the
// group's records are in flight, so nothing else touches them); a group
// that does not fit (a half of a request the API found too large but this
// sink did not) is halved again, the rest pinned to go next.
func (b *Batcher) compressPinned(req *request) error {
	for {
		total := 0
		for _, e := range req.entries {
			total += len(e.data)
		}
		plain := b.env.plainSize(len(req.entries), total)
		body, err := b.comp.compress(b.env, dataOf(req.entries), plain)
		if err != nil {
			return err
		}
		if len(body) <= b.cfg.MaxBodyBytes || len(req.entries) == 1 {
			req.body, req.plain = body, plain
			return nil
		}
		half := len(req.entries) / 2
		rest := &request{entries: req.entries[half:]}
		req.entries = req.entries[:half]
		b.mu.Lock()
		b.pinned = slices.Insert(b.pinned, 0, rest)
		b.signal()
		b.mu.Unlock()
	}
}

func dataOf(es []*entry) [][]byte {
	out := make([][]byte, len(es))
	for i, e := range es {
		out[i] = e.data
	}
	return out
}

// bodyLevel is the gzip level of request bodies (klauspost/compress): 6,
// not its default (5), whose fast encoder stores blocks with few repeats
// uncompressed (see BenchmarkGzipLevels).
const bodyLevel = 6

// fastLevel is the gzip level of a body that holds every record it could:
// its size then decides nothing, so the fastest level does (about three
// times faster than bodyLevel on JSON records, BenchmarkGzipLevels).
const fastLevel = 1
