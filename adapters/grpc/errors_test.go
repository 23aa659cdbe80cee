package grpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
	"google.golang.org/grpc/codes"
)

// TestErrorCodes pins each error kind to the gRPC code and the HTTP status
// it is answered with. Errors arrive wrapped, as decisions return them.
func TestErrorCodes(t *testing.T) {
	tests := []struct {
		err  error
		code codes.Code
		http int
	}{
		{domain.ErrInvalidArgument, codes.InvalidArgument, http.StatusBadRequest},
		{domain.ErrNotFound, codes.NotFound, http.StatusNotFound},
		{domain.ErrPermissionDenied, codes.PermissionDenied, http.StatusForbidden},
		{domain.ErrFailedPrecondition, codes.FailedPrecondition, http.StatusBadRequest},
		{domain.ErrAlreadyExists, codes.AlreadyExists, http.StatusConflict},
		{domain.ErrResourceExhausted, codes.ResourceExhausted, http.StatusTooManyRequests},
		{projections.ErrBadPageToken, codes.InvalidArgument, http.StatusBadRequest},
		{eventstore.ErrClosed, codes.Unavailable, http.StatusServiceUnavailable},
		{context.Canceled, codes.Canceled, http.StatusServiceUnavailable},
		{context.DeadlineExceeded, codes.DeadlineExceeded, http.StatusServiceUnavailable},
		// Write-side and auth errors reach only gRPC (REST is read-only):
		// REST would answer them as internal.
		{&commands.DepositError{Problem: "used", Detail: "claimed by another job"}, codes.FailedPrecondition, http.StatusInternalServerError},
		{commands.ErrConflict, codes.Aborted, http.StatusInternalServerError},
		{eventstore.ErrWrongExpectedRevision, codes.Aborted, http.StatusInternalServerError},
		{commands.ErrChainUnavailable, codes.Unavailable, http.StatusInternalServerError},
		{auth.ErrMissingToken, codes.Unauthenticated, http.StatusInternalServerError},
		{auth.ErrExpired, codes.Unauthenticated, http.StatusInternalServerError},
		{auth.ErrInvalidToken, codes.Unauthenticated, http.StatusInternalServerError},
		{errors.New("disk on fire"), codes.Internal, http.StatusInternalServerError},
	}
	for _, tc := range tests {
		err := fmt.Errorf("job j-1: %w", tc.err)
		if got := codeOf(err); got != tc.code {
			t.Errorf("codeOf(%v) = %s, want %s", err, got, tc.code)
		}
		if got := rest.StatusOf(err); got != tc.http {
			t.Errorf("rest.StatusOf(%v) = %d, want %d", err, got, tc.http)
		}
	}
}
