package grpc

import (
	"context"
	"errors"
	"log/slog"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// codeOf maps an error to its gRPC code: the one place where domain,
// store and auth errors meet the wire.
func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	var deposit *commands.DepositError
	switch {
	case errors.As(err, &deposit):
		return codes.FailedPrecondition
	case errors.Is(err, domain.ErrInvalidArgument), errors.Is(err, projections.ErrBadPageToken):
		return codes.InvalidArgument
	case errors.Is(err, domain.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, domain.ErrPermissionDenied):
		return codes.PermissionDenied
	case errors.Is(err, domain.ErrFailedPrecondition):
		return codes.FailedPrecondition
	case errors.Is(err, domain.ErrAlreadyExists):
		return codes.AlreadyExists
	case errors.Is(err, domain.ErrResourceExhausted):
		return codes.ResourceExhausted
	case errors.Is(err, commands.ErrConflict), errors.Is(err, eventstore.ErrWrongExpectedRevision):
		return codes.Aborted
	case errors.Is(err, auth.ErrMissingToken), errors.Is(err, auth.ErrExpired), errors.Is(err, auth.ErrInvalidToken):
		return codes.Unauthenticated
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, eventstore.ErrClosed), errors.Is(err, commands.ErrChainUnavailable):
		return codes.Unavailable
	}
	return codes.Internal
}

// toStatus turns any error into a gRPC status error with a message a person
// can act on. Internal errors are logged and answered with a generic message.
func toStatus(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codeOf(err)
	if code == codes.Internal {
		log.Error("internal error", "method", method, "err", err)
		return status.Error(code, "internal error; the server logged the details")
	}
	if code == codes.Unavailable {
		if errors.Is(err, commands.ErrChainUnavailable) {
			return status.Error(code, "the Solana RPC node cannot be reached; retry later: "+err.Error())
		}
		return status.Error(code, "the server is shutting down; retry against another instance or later")
	}
	return status.Error(code, err.Error())
}

// invalidf is a request-validation error.
func invalidf(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// okStatus is the body status of a successful call.
const okStatus = pb.StatusCode_STATUS_SUCCESS
