package admin

import "github.com/torii-gateway/torii/core/quota"

// Quota counts of deleted API keys. A key deleted (or left out of an import) loses its counts:
// its slot leaves the counters at once, inside the write, so that no flush of the quota persister
// writes it back, and its record in BucketQuotas is deleted by the write's own transaction. A key
// created again with the same client id starts from zero. Records of keys deleted while the
// process was down are pruned when the database is opened, before the persister loads them.

// forgetQuota removes the quota counts of API key id with the write ws. It returns the undo for a
// write that fails after fn (a compile or commit error), which gives the counts back.
func (s *Server) forgetQuota(ws *writeSet, id string) (undo func()) {
	ws.changes = append(ws.changes, change{bucket: BucketQuotas, key: id})
	q := s.opts.Quotas
	if q == nil {
		return func() {}
	}
	sl := q.Remove(id)
	return func() { q.Restore(id, sl) }
}

// pruneQuotas deletes the persisted quota counts of client ids that are not API keys of st. It runs
// when the database is opened, before the quota persister loads the bucket; a failure is logged,
// not fatal (the records are then loaded and only waste a little space).
func (s *Server) pruneQuotas(st *state) {
	n, err := quota.PruneRecords(s.db, BucketQuotas, func(id string) bool {
		return st.ents[kKeys].Has(id)
	})
	if err != nil {
		s.log.Error("cannot prune the quota counters of deleted API keys", "err", err)
		return
	}
	if n > 0 {
		s.log.Info("pruned the quota counters of deleted API keys", "records", n)
	}
}
