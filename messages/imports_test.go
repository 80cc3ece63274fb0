package messages

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The packages that speak codes know nothing of HTTP: only the gateway maps codes to statuses.
// This holds for them and for every package of the module they build on.
func TestCodePackagesImportNoHTTP(t *testing.T) {
	const module = "github.com/forecastd/forecastd"
	roots := []string{module + "/messages", module + "/processor", module + "/store"}
	out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}"}, roots...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || (fields[0] != module && !strings.HasPrefix(fields[0], module+"/")) {
			continue
		}
		checked++
		if slices.Contains(fields[1:], "net/http") {
			t.Errorf("%s imports net/http", fields[0])
		}
	}
	if checked < len(roots) {
		t.Fatalf("go list named %d packages of the module, want at least %d:\n%s", checked, len(roots), out)
	}
}
