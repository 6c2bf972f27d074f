// Command streamhelper is the Go end of scripts/benchsuite/stream_bench.py.
//
//	streamhelper produce NAME FRAMEBYTES FRAMES SLOTS READERS [GAP_US]
//	    create a stream of FRAMEBYTES-byte frames (uint8), wait for READERS
//	    readers, Send FRAMES frames (GAP_US microseconds apart if given), close;
//	    prints "ready" once created, then CLOCK_MONOTONIC ns at the first send
//	streamhelper consume NAME
//	    read to the end; prints "ready", then "FRAMES END_NS P50_NS P99_NS" (END_NS:
//	    CLOCK_MONOTONIC at the last frame)
//	    (one-way latency: receive time minus the frame's timestamp)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/npshm/npshm/npy"
	"github.com/npshm/npshm/stream"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "streamhelper:", err)
		os.Exit(1)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func mono() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

func run(args []string) error {
	ctx := context.Background()
	switch args[0] {
	case "produce":
		name, size, frames, slots, readers := args[1], atoi(args[2]), atoi(args[3]), atoi(args[4]), atoi(args[5])
		gap := time.Duration(0)
		if len(args) > 6 {
			gap = time.Duration(atoi(args[6])) * time.Microsecond
		}
		w, err := stream.Create(name, npy.Header{DType: npy.Uint8, Shape: []int{size}}, stream.Options{Slots: slots})
		if err != nil {
			return err
		}
		defer w.Close()
		fmt.Println("ready")
		for w.Readers() < readers {
			time.Sleep(time.Millisecond)
		}
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(i)
		}
		t0 := mono()
		for range frames {
			if gap > 0 {
				time.Sleep(gap)
			}
			if err := w.Send(src); err != nil {
				return err
			}
		}
		w.Close()
		fmt.Println(t0)
	case "consume":
		r, err := stream.Open(args[1])
		if err != nil {
			return err
		}
		defer r.Close()
		fmt.Println("ready")
		var lat []uint64
		var n int
		var end uint64
		for {
			b, err := r.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			end = mono()
			lat = append(lat, end-r.Timestamp())
			_ = b[0]
			n++
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p := func(q float64) uint64 {
			if len(lat) == 0 {
				return 0
			}
			return lat[int(q*float64(len(lat)-1))]
		}
		fmt.Println(n, end, p(0.5), p(0.99))
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}
