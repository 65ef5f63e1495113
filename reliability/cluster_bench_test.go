package reliability_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rabbitmq-tutorials-go/tutorials/internal/e2e"
)

// BenchmarkClusterPublish: the producer's confirmed publish rate to the quorum queue task_queue on one node
// (the broker at AMQP_URL) and on the 3-node cluster, where each message is confirmed only once two of
// the three nodes have it.
func BenchmarkClusterPublish(b *testing.B) {
	const n = 20000
	for _, c := range []struct{ name, url string }{
		{"one-node", ""},
		{"cluster", strings.Join(nodeURLs, ",")},
	} {
		b.Run(c.name, func(b *testing.B) {
			var env []string
			if c.url != "" {
				needCluster(b)
				env = []string{"AMQP_URL=" + c.url}
				freshClusterQueues(b)
			} else {
				e2e.FreshQueue(b, "task_queue")
			}
			for range b.N {
				start := time.Now()
				out, errOut, code := e2e.Run(b, "producer", env, "-count", strconv.Itoa(n), "-window", "500")
				if code != 0 {
					b.Fatalf("producer exit %d\n%s\n%s", code, out, errOut)
				}
				b.ReportMetric(n/time.Since(start).Seconds(), "msg/s")
			}
			if c.url != "" {
				freshClusterQueues(b)
			}
			// (FreshQueue deletes task_queue on one node when the benchmark ends.)
		})
	}
}

// BenchmarkClusterFaults: the stall each fault causes, the longest time without a finished task from the
// fault on (the producer at 300 tasks a second, two consumers).
func BenchmarkClusterFaults(b *testing.B) {
	needCluster(b)
	for range b.N {
		faults := clusterFaults()
		scenario(b, 9000, faults)
		for i, f := range faults {
			b.ReportMetric(float64(f.stall.Milliseconds()), []string{"stall-kill-producer-node-ms", "stall-kill-leader-node-ms", "stall-stop-leader-node-ms"}[i])
		}
	}
}

// BenchmarkClusterPartitions: the partition tests' figures (see partition_test.go), one run of each
// scenario per iteration: what was published again, redelivered and seen twice, the longest time
// without a finished task during the partition and after the heal, and how long after the heal
// declarations worked through every node and the nodes logged each other up.
func BenchmarkClusterPartitions(b *testing.B) {
	needCluster(b)
	for _, c := range []struct {
		name string
		run  func(testing.TB) *splitRun
	}{
		{"producer-node-20s", cutProducerNode},
		{"leader-node-20s", cutLeaderNode},
		{"consumer-node-25s", cutConsumerNode},
		{"short-4s", cutShort},
	} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				r := c.run(b)
				b.ReportMetric(float64(r.republished), "republished")
				b.ReportMetric(float64(r.redelivered), "redelivered")
				b.ReportMetric(float64(r.dups), "duplicates")
				b.ReportMetric(float64(r.stallDuring.Milliseconds()), "stall-during-ms")
				b.ReportMetric(float64(r.stallAfter.Milliseconds()), "stall-after-ms")
				b.ReportMetric(float64(r.declareAfter.Milliseconds()), "heal-to-declare-ms")
				if len(r.upAgain) > 0 {
					b.ReportMetric(float64(r.upAgain[len(r.upAgain)-1].Sub(r.healAt).Milliseconds()), "heal-to-up-ms")
				}
			}
		})
	}
}
