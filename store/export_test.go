package store

// PipelineQueued is how many callers wait for the next pipeline of s.
func PipelineQueued(s *Redis) int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.queued)
}
