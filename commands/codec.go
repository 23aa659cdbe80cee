package commands

import (
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
)

// NewCodec returns the registry of every domain event, by its versioned
// name. A changed payload gets a new name ("JobSubmitted.v2") and an
// upcaster from the old one here, so old logs stay readable.
func NewCodec() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[domain.JobSubmitted](r, domain.JobSubmitted{}.EventName())
	eventstore.Register[domain.JobAssigned](r, domain.JobAssigned{}.EventName())
	eventstore.Register[domain.JobAccepted](r, domain.JobAccepted{}.EventName())
	eventstore.Register[domain.JobRejected](r, domain.JobRejected{}.EventName())
	eventstore.Register[domain.JobStarted](r, domain.JobStarted{}.EventName())
	eventstore.Register[domain.JobProgressed](r, domain.JobProgressed{}.EventName())
	eventstore.Register[domain.JobCompleted](r, domain.JobCompleted{}.EventName())
	eventstore.Register[domain.JobFailed](r, domain.JobFailed{}.EventName())
	eventstore.Register[domain.JobCancelled](r, domain.JobCancelled{}.EventName())
	eventstore.Register[domain.JobTimedOut](r, domain.JobTimedOut{}.EventName())
	eventstore.Register[domain.JobRequeued](r, domain.JobRequeued{}.EventName())
	eventstore.Register[domain.JobDeleted](r, domain.JobDeleted{}.EventName())
	eventstore.Register[domain.NodeRegistered](r, domain.NodeRegistered{}.EventName())
	eventstore.Register[domain.NodeUpdated](r, domain.NodeUpdated{}.EventName())
	eventstore.Register[domain.NodeWentOnline](r, domain.NodeWentOnline{}.EventName())
	eventstore.Register[domain.NodeWentOffline](r, domain.NodeWentOffline{}.EventName())
	eventstore.Register[domain.NodeMetricsSampled](r, domain.NodeMetricsSampled{}.EventName())
	eventstore.Register[domain.ReputationAdjusted](r, domain.ReputationAdjusted{}.EventName())
	eventstore.Register[domain.NodeJobReserved](r, domain.NodeJobReserved{}.EventName())
	eventstore.Register[domain.NodeJobReleased](r, domain.NodeJobReleased{}.EventName())
	eventstore.Register[domain.NodeBanned](r, domain.NodeBanned{}.EventName())
	eventstore.Register[domain.NodeUnbanned](r, domain.NodeUnbanned{}.EventName())
	eventstore.Register[domain.NodeDeleted](r, domain.NodeDeleted{}.EventName())
	eventstore.Register[domain.DepositClaimed](r, domain.DepositClaimed{}.EventName())
	eventstore.Register[domain.EscrowFunded](r, domain.EscrowFunded{}.EventName())
	eventstore.Register[domain.PaymentSkipped](r, domain.PaymentSkipped{}.EventName())
	eventstore.Register[domain.PaymentReleaseSubmitted](r, domain.PaymentReleaseSubmitted{}.EventName())
	eventstore.Register[domain.PaymentReleased](r, domain.PaymentReleased{}.EventName())
	eventstore.Register[domain.RefundSubmitted](r, domain.RefundSubmitted{}.EventName())
	eventstore.Register[domain.PaymentRefunded](r, domain.PaymentRefunded{}.EventName())
	eventstore.Register[domain.PaymentFailed](r, domain.PaymentFailed{}.EventName())
	eventstore.Register[domain.DepositRefundRequested](r, domain.DepositRefundRequested{}.EventName())
	eventstore.Register[domain.DepositRefundSubmitted](r, domain.DepositRefundSubmitted{}.EventName())
	eventstore.Register[domain.DepositRefunded](r, domain.DepositRefunded{}.EventName())
	eventstore.Register[domain.DepositRefundFailed](r, domain.DepositRefundFailed{}.EventName())
	return r
}
