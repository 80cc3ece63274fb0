package integration

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// Two gateways share the processors; each gets the replies to its own requests (routed by
// gateway id to its own reply queue), none is lost or crossed.
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
}
