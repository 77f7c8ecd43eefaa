package redisstore

// PipelineAll makes s send every load and write through the
// autopipeliner, however few are in flight (tests of its recovery).
func PipelineAll(s *Store) {
	if s.ap != nil {
		s.above = 0
	}
}
