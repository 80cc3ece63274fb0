package integration

import (
	"os"
	"testing"

	"github.com/forecastd/forecastd/gateway"
	"github.com/forecastd/forecastd/internal/openapitest"
)

// Every response a test gets over HTTP is checked against openapi.json.
func TestMain(m *testing.M) { os.Exit(openapitest.Main(m, gateway.OpenAPIDocument())) }
