package messages

import (
	"strings"
	"testing"
)

// The longest series name a batch that saves its models takes makes the longest model name.
func TestSavedModelNamesAreValidModelNames(t *testing.T) {
	id := strings.Repeat("b", BatchIDLength)
	if problem := ValidModelName(SavedModel(id, strings.Repeat("n", MaxSavedSeriesName))); problem != "" {
		t.Errorf("the longest saved name: %s", problem)
	}
	if ValidModelName(SavedModel(id, strings.Repeat("n", MaxSavedSeriesName+1))) == "" {
		t.Error("a name one longer is a valid model name; MaxSavedSeriesName is too small")
	}
	cmd := BatchCommand{BatchID: id, Index: 7, Name: "s", Generation: 3, Values: Values{1, 2}, SeasonLength: 4, Method: "ets", Gaps: 1}
	f := cmd.Fit()
	if !cmd.Saves() || f.Model != id+".s" || f.Generation != 3 || f.JobID != id+".7" || len(f.Values) != 2 || f.SeasonLength != 4 || f.Method != "ets" || f.Gaps != 1 {
		t.Errorf("the series' fit: %+v", f)
	}
}
