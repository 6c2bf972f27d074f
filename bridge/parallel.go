package bridge

import "github.com/npshm/npshm/internal/parallel"

// inChunks runs fn on [lo, hi) chunks of [0, n) on every core and returns
// the first error: parallel.Chunks, shared with the loader.
var inChunks = parallel.Chunks
