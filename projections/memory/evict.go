package memory

import (
	"context"
	"slices"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// finished reports whether a job is done with: ended, or deleted and
// not on a node. Only finished jobs are let go of.
func finished(v *projections.JobView) bool {
	return v.Status.Terminal() || (v.Deleted && !v.Active())
}

// JobsHorizon implements projections.JobHorizon.
func (m *Model) JobsHorizon() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.horizon
}

// evict lets go of the oldest submitted finished jobs past
// Config.KeepFinished, under the write lock. It waits until a quarter
// more have piled up, so the walk over the jobs in memory it costs is
// spread over that many finishes.
func (m *Model) evict() {
	keep := m.cfg.KeepFinished
	if keep <= 0 || m.finished <= keep+max(keep/4, 16) {
		return
	}
	seen, cut := 0, uint64(0)
	for i := len(m.order) - 1; i >= 0; i-- {
		if finished(m.order[i]) {
			if seen++; seen == keep {
				cut = m.order[i].SubmittedPosition
				break
			}
		}
	}
	letGo := func(v *projections.JobView) bool { return v.SubmittedPosition < cut && finished(v) }
	for _, v := range m.order {
		if letGo(v) {
			delete(m.jobs, v.ID)
			m.finished--
			m.horizon = max(m.horizon, v.SubmittedPosition)
		}
	}
	m.order = slices.DeleteFunc(m.order, letGo)
	for owner, jobs := range m.byOwner {
		if jobs = slices.DeleteFunc(jobs, letGo); len(jobs) == 0 {
			delete(m.byOwner, owner)
		} else {
			m.byOwner[owner] = jobs
		}
	}
}

// deleteLetGo uncounts a job deleted after it was let go of, reading
// what it was from the archive (under the write lock: a deletion of an
// old job is rare). Without an archive, or if it fails, the counters keep
// the job.
func (m *Model) deleteLetGo(id string, e *projections.Envelope) {
	if _, ok := e.Event.(domain.JobDeleted); !ok || m.horizon == 0 || m.cfg.Archive == nil {
		return
	}
	v, ok, err := m.cfg.Archive.ArchivedJob(context.Background(), id, e.Position)
	if err != nil || !ok || v.Deleted {
		return
	}
	m.count(v.Owner, v.Spec.Type, v.Status, -1)
}

// archived reads a job the model let go of; false when there is none.
func (m *Model) archived(ctx context.Context, id string) (projections.JobView, bool, error) {
	m.mu.RLock()
	look := m.horizon > 0 && m.cfg.Archive != nil && m.jobs[id] == nil
	m.mu.RUnlock()
	if !look {
		return projections.JobView{}, false, nil
	}
	return m.cfg.Archive.ArchivedJob(ctx, id, 0)
}
