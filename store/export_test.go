package store

// PipelineQueued is how many callers wait for the next pipeline of s.
func PipelineQueued(s *Redis) int { return s.batch.group.Queued() }

// PipelineFlights is how many pipelines may be in flight at once.
const PipelineFlights = maxFlights
