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
	w := func(b []byte) error { _, err := zw.Write(b); return err }
	if err := w(env.prefix); err != nil {
		return nil, fmt.Errorf("ups: gzip: %w", err)
	}
	for i, r := range records {
		if i > 0 {
			if err := w([]byte{','}); err != nil {
				return nil, fmt.Errorf("ups: gzip: %w", err)
			}
		}
		if err := w(r); err != nil {
			return nil, fmt.Errorf("ups: gzip: %w", err)
		}
	}
	if err := w(env.suffix); err != nil {
		return nil, fmt.Errorf("ups: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("ups: gzip: %w", err)
	}
	return out.Bytes(), nil
}

// fit finds how many of cands, from the first, fill a body within
// MaxBodyBytes, and compresses them. It sizes by the recent compression
// ratio, then corrects with the measured one: usually one compression, at
// most a few when the records compress unlike the last ones.
func (b *Batcher) fit(cands []*entry, ratio float64) (req *request, measured float64, err error) {
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
	n := most(ratio)
	measured = ratio
	var best []byte
	bestN := 0
	for range 4 {
		body, err := b.comp.compress(b.env, dataOf(cands[:n]), plain[n])
		if err != nil {
			return nil, 0, err
		}
		measured = float64(len(body)) / float64(plain[n])
		if len(body) <= limit {
			best, bestN = body, n
			if n == len(cands) || float64(len(body)) >= fillTarget*float64(limit) {
				break
			}
			next := most(measured)
			if next <= n {
				break
			}
			n = next
			continue
		}
		next := min(most(measured), n-1)
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
			return nil, 0, err
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
