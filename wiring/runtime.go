package wiring

import (
	"os"
	"runtime/debug"
	"runtime/pprof"
)

// softMemoryLimit is the memory the Go runtime is asked to stay within
// unless GOMEMLIMIT says otherwise. It is soft: the runtime collects
// garbage more often as the heap nears it, and goes beyond it only when
// the analysis really holds more (very many connections open at once).
// Without it the heap grows to twice what is live before each collection.
// Each worker beyond the first holds its own open connections and frame
// batches, and gets workerMemory more.
const (
	softMemoryLimit = 48 << 20
	workerMemory    = 16 << 20
)

// LimitMemory asks the Go runtime to stay within softMemoryLimit, unless
// GOMEMLIMIT sets a limit of the user's. The command calls it once, first.
func LimitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
}

// roomForWorkers raises the limit LimitMemory set (not one GOMEMLIMIT
// set) by workerMemory for each worker beyond the first.
func roomForWorkers(workers int) {
	if workers > 1 && debug.SetMemoryLimit(-1) == softMemoryLimit {
		debug.SetMemoryLimit(softMemoryLimit + int64(workers-1)*workerMemory)
	}
}

// startCPUProfile starts a CPU profile into the named file and returns
// the function that stops it.
func startCPUProfile(name string) (stop func(), err error) {
	file, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(file); err != nil {
		file.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		file.Close()
	}, nil
}
