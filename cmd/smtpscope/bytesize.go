package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag value of bytes written as "1G", "500M", "64KiB"
// (powers of 1024) or plain bytes; zero means no bound.
type byteSize int64

func (b *byteSize) String() string {
	switch n := int64(*b); {
	case n == 0:
		return "0"
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "G"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "M"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "K"
	default:
		return strconv.FormatInt(n, 10)
	}
}

func (b *byteSize) Type() string { return "size" }

func (b *byteSize) Set(s string) error {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := 1.0
	for i, unit := range []string{"K", "M", "G", "T"} {
		if strings.HasSuffix(t, unit) {
			mult, t = math.Pow(1024, float64(i+1)), strings.TrimSuffix(t, unit)
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || math.IsInf(n, 0) || n*mult >= math.MaxInt64 {
		return fmt.Errorf("%q is not a size such as 1G, 500M or 5000000", s)
	}
	*b = byteSize(n * mult)
	return nil
}
