package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
)

// JobArchive answers for jobs a read model no longer holds in memory.
type JobArchive interface {
	// ArchivedJob folds the events of job id recorded before position
	// before (0: all of them); false when the job was never submitted.
	ArchivedJob(ctx context.Context, id string, before uint64) (JobView, bool, error)
}

// JobHorizon is how far back a read model's job lists reach.
type JobHorizon interface {
	// JobsHorizon is 0 when lists hold every job; else every job submitted
	// after that position is listed, and of those submitted at or before
	// it only the unfinished ones (finished ones are still found one by
	// one, by id).
	JobsHorizon() uint64
}

// LogArchive reads a job from its stream in the log.
type LogArchive struct {
	Store eventstore.Store
	Codec Codec
}

// ArchivedJob implements JobArchive.
func (a LogArchive) ArchivedJob(ctx context.Context, id string, before uint64) (JobView, bool, error) {
	recs, err := a.Store.ReadStream(ctx, domain.JobStream(id), 0, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return JobView{}, false, nil
	}
	if err != nil {
		return JobView{}, false, fmt.Errorf("read job %s from the log: %w", id, err)
	}
	var v JobView
	found := false
	for _, rec := range recs {
		if before > 0 && rec.Position >= before {
			break
		}
		dec, err := a.Codec.Decode(rec.Type, rec.Data)
		if err != nil {
			return JobView{}, false, fmt.Errorf("read job %s from the log: position %d: %w", id, rec.Position, err)
		}
		ev, ok := dec.(domain.Event)
		if !ok {
			continue
		}
		if _, opens := ev.(domain.JobSubmitted); opens == found {
			continue // a stream opens once, with its submission
		}
		found = true
		ApplyJob(&v, Envelope{Event: ev, Stream: rec.Stream, Revision: rec.Revision, Position: rec.Position,
			Recorded: rec.Recorded, Metadata: rec.Metadata})
	}
	return v, found, nil
}
