package messages

import (
	"strconv"
	"strings"
)

// A batch with save_models keeps each series as a model named {batch_id}.{series name}: a fit
// of its own, accepted with the batch, whose generation its command carries.

// BatchIDLength is the length of a batch id: short, so that a saved series' model name
// (BatchIDLength + 1 + the series' name) leaves its series most of the 64 characters.
const BatchIDLength = 16

// MaxSavedSeriesName is the longest series name of a batch that saves its models.
const MaxSavedSeriesName = maxModelNameSize - BatchIDLength - 1

// SavedModel is the model a batch with save_models keeps series name as.
func SavedModel(batchID, name string) string { return batchID + "." + name }

// SavedFitJob is the job id of the fit that keeps series index of a batch: the batch is its
// record; there is no job record of its own.
func SavedFitJob(batchID string, index int) string { return batchID + "." + strconv.Itoa(index) }

// SavedFitOf reads a SavedFitJob id back: the batch and the index of its series, and whether
// id is one.
func SavedFitOf(id string) (batchID string, index int, ok bool) {
	batchID, n, found := strings.Cut(id, ".")
	index, err := strconv.Atoi(n)
	if !found || err != nil || index < 0 || strconv.Itoa(index) != n || ValidBatchID(batchID) != "" {
		return "", 0, false
	}
	return batchID, index, true
}

// validateSavedName checks that series name can name a model once prefixed by a batch id.
func validateSavedName(p Problems, field, name string) {
	if len(name) > MaxSavedSeriesName {
		p.Add(field, "has %d characters; a batch with save_models keeps the series as the model {batch_id}.{name}, whose batch id has %d characters, so a name has at most %d",
			len(name), BatchIDLength, MaxSavedSeriesName)
	}
}

// Saves reports whether the command's series is to be kept as a model (its fit was accepted
// with the batch as generation Generation of Model()).
func (c BatchCommand) Saves() bool { return c.Generation > 0 }

// Model is the model the command's series is kept as when it Saves.
func (c BatchCommand) Model() string { return SavedModel(c.BatchID, c.Name) }

// Fit is the fit of the command's series as a fit command of its own: what a processor fits,
// summarizes and keeps when the series Saves. It has no gateway to reply to.
func (c BatchCommand) Fit() FitCommand {
	return FitCommand{
		JobID: SavedFitJob(c.BatchID, c.Index), Model: c.Model(), Generation: c.Generation,
		Values: c.Values, SeasonLength: c.SeasonLength, Method: c.Method, Timestamps: c.Timestamps,
		Gaps: c.Gaps, HistoryTimestamps: c.HistoryTimestamps, AcceptedAt: c.AcceptedAt,
	}
}
