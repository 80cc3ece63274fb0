package integration

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/forecastd/forecastd/internal/promtest"
	"github.com/forecastd/forecastd/messages"
)

// Two gateways share the processors; each gets the replies to its own requests (routed by
// gateway id to its own reply queue), none is lost or crossed. A reply that went astray would
// still be answered, from the job record after LostReplyCheck, so the test also requires that
// neither gateway had to recover a reply that way.
func TestTwoGatewaysGetTheirOwnReplies(t *testing.T) {
	c := newCluster(t, 2)
	second := c.startGateway(nil)
	bases := []string{c.http.URL, second.http.URL}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		wg.Go(func() {
			base := bases[i%2]
			model := fmt.Sprintf("gw%d", i)
			r := c.doAt(base, "POST", "/v1/models/"+model+"/fit", map[string]any{"values": series(1, 20), "method": "naive"})
			var fit fitData
			if r.Code != http.StatusOK || r.decodeInto(&fit) != nil || fit.Model != model || fit.Generation != 1 {
				errs <- fmt.Errorf("fit via %s: %d %s", base, r.Code, r.Data)
				return
			}
			r = c.doAt(base, "POST", "/v1/models/"+model+"/forecast", map[string]any{"horizon": 2})
			var fc forecastData
			if r.Code != http.StatusOK || r.decodeInto(&fc) != nil || fc.Model != model {
				errs <- fmt.Errorf("forecast via %s: %d %s", base, r.Code, r.Data)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, gw := range []struct {
		name string
		reg  prometheus.Gatherer
	}{{"first", c.reg}, {"second", second.reg}} {
		// Each gateway answered its 5 fits and 5 forecasts, and none from a job record.
		for _, kind := range []string{messages.KindFit, messages.KindForecast} {
			if n := promtest.Value(t, gw.reg, "forecastd_jobs_completed_total", "kind", kind, "status", "success"); n != 5 {
				t.Errorf("%s gateway answered %v %s jobs, want 5", gw.name, n, kind)
			}
		}
		if n := promtest.Value(t, gw.reg, "forecastd_replies_recovered_total"); n != 0 {
			t.Errorf("%s gateway answered %v jobs from their records: their replies went elsewhere", gw.name, n)
		}
	}
}
