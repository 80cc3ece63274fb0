package faults

import (
	"os"
	"testing"

	"github.com/forecastd/forecastd/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
