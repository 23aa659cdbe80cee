package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/labstack/echo/v4"
)

// Operations are the writes the REST API makes: returning deposits that
// fund no job, and banning or deleting nodes. *commands.Handler implements
// it; every write is recorded as events with the caller as actor.
type Operations interface {
	RequestDepositRefund(ctx context.Context, r commands.DepositRefund) (*domain.Deposit, uint64, error)
	BanNode(ctx context.Context, nodeID, by, reason string) (*domain.Node, uint64, error)
	UnbanNode(ctx context.Context, nodeID, by string) (*domain.Node, uint64, error)
	DeleteNode(ctx context.Context, nodeID, by, reason string) (*domain.Node, uint64, error)
}

// maxBodyBytes bounds a write's JSON body.
const maxBodyBytes = 4 << 10

// depositRefundBody is the body of the deposit refund endpoints.
type depositRefundBody struct {
	Payer  string `json:"payer"`  // operator endpoint only: the wallet the deposit came from
	Reason string `json:"reason"` // optional
}

// DepositView is a deposit refund endpoint's answer.
type DepositView struct {
	Signature   string `json:"signature"`
	Status      string `json:"status"`
	Payer       string `json:"payer"`
	Lamports    uint64 `json:"lamports"`
	RequestedBy string `json:"requested_by"`
}

// refundDepositAsPayer is POST /api/deposits/:signature/refund: the payer,
// proven by the token's wallet_address claim, asks for a deposit that
// funds no job back.
func (s *Server) refundDepositAsPayer(c echo.Context) error {
	p, _ := auth.PrincipalFrom(c.Request().Context())
	if p.Wallet == "" {
		return forbidden("returning a deposit needs a token whose wallet_address claim is the paying wallet; mint one with `cyxwiz-central token --sub NAME --wallet ADDR`")
	}
	return s.refundDeposit(c, p.Wallet, "", "payer")
}

// refundDepositAsOperator is POST /api/admin/deposits/:signature/refund.
func (s *Server) refundDepositAsOperator(c echo.Context) error {
	p, _ := auth.PrincipalFrom(c.Request().Context())
	return s.refundDeposit(c, "", p.Subject, "operator:"+p.Subject)
}

func (s *Server) refundDeposit(c echo.Context, wallet, operator, by string) error {
	if s.deps.Operations == nil {
		return unavailable("this server makes no writes over REST")
	}
	var body depositRefundBody
	if err := readBody(c, &body); err != nil {
		return err
	}
	payer := wallet
	if operator != "" {
		if body.Payer == "" {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Param: "payer", Message: `the body needs "payer": the wallet the deposit came from, which the refund goes to`}
		}
		payer = body.Payer
	} else if body.Payer != "" && body.Payer != wallet {
		return forbidden("payer %s is not your wallet (your token's wallet_address is %s)", body.Payer, wallet)
	}
	sig := c.Param("signature")
	ctx := s.writeContext(c)
	d, _, err := s.deps.Operations.RequestDepositRefund(ctx, commands.DepositRefund{Signature: sig, Payer: payer, Operator: operator, Reason: body.Reason})
	if err != nil {
		return fromCommand(err)
	}
	return c.JSON(http.StatusAccepted, DepositView{Signature: d.Signature(), Status: d.Status().String(), Payer: d.Payer(), Lamports: d.Lamports(), RequestedBy: by})
}

// NodeAction is the answer of the node ban, unban and delete endpoints.
type NodeAction struct {
	NodeID  string `json:"node_id"`
	Banned  bool   `json:"banned"`
	Deleted bool   `json:"deleted"`
}

// nodeReasonBody is the body of POST /api/admin/nodes/:id/ban.
type nodeReasonBody struct {
	Reason string `json:"reason"`
}

// maxReasonBytes bounds an operator's reason.
const maxReasonBytes = 1024

// nodeAction runs one operator decision about the node in the path and
// answers the node's state after it. The operator is recorded as By and
// as the events' actor.
func (s *Server) nodeAction(c echo.Context, reason string, act func(ops Operations, ctx context.Context, id, by, reason string) (*domain.Node, uint64, error)) error {
	if s.deps.Operations == nil {
		return unavailable("this server makes no writes over REST")
	}
	id, perr := pathID(c, "node")
	if perr != nil {
		return perr
	}
	if len(reason) > maxReasonBytes {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Param: "reason", Message: fmt.Sprintf("reason is longer than %d bytes", maxReasonBytes)}
	}
	p, _ := auth.PrincipalFrom(c.Request().Context())
	n, pos, err := act(s.deps.Operations, s.writeContext(c), id, p.Subject, reason)
	if err != nil {
		return fromCommand(err)
	}
	s.log.Info("operator node decision", "route", c.Path(), "node", id, "by", p.Subject, "reason", reason, "position", pos)
	return c.JSON(http.StatusOK, NodeAction{NodeID: n.ID(), Banned: n.Banned(), Deleted: n.Deleted()})
}

func (s *Server) banNode(c echo.Context) error {
	var body nodeReasonBody
	if err := readBody(c, &body); err != nil {
		return err
	}
	return s.nodeAction(c, body.Reason, Operations.BanNode)
}

func (s *Server) unbanNode(c echo.Context) error {
	return s.nodeAction(c, "", func(ops Operations, ctx context.Context, id, by, _ string) (*domain.Node, uint64, error) {
		return ops.UnbanNode(ctx, id, by)
	})
}

func (s *Server) deleteNode(c echo.Context) error {
	return s.nodeAction(c, c.QueryParam("reason"), Operations.DeleteNode)
}

// writeContext is the request's context with the event metadata of a
// write: the request id as correlation, the route as causation, the
// caller as actor.
func (s *Server) writeContext(c echo.Context) context.Context {
	p, _ := auth.PrincipalFrom(c.Request().Context())
	return commands.WithMetadata(c.Request().Context(), eventstore.Metadata{
		CorrelationID: requestIDOf(c), CausationID: c.Request().Method + " " + c.Path(), Actor: "user:" + p.Subject,
	})
}

// readBody decodes a JSON body of at most maxBodyBytes; an empty body is
// the zero value.
func readBody(c echo.Context, v any) error {
	r := http.MaxBytesReader(c.Response(), c.Request().Body, maxBodyBytes)
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidArgument, Message: fmt.Sprintf("the body must be a JSON object of at most %d bytes: %v", maxBodyBytes, err)}
	}
	return nil
}

// fromCommand maps a command's error to an answer: a refused deposit is
// a failed precondition, an unreachable chain 503, the rest as queries'.
func fromCommand(err error) error {
	var de *commands.DepositError
	switch {
	case errors.As(err, &de):
		return &Error{Status: http.StatusBadRequest, Code: CodeFailedPrecondition, Message: err.Error()}
	case errors.Is(err, commands.ErrChainUnavailable):
		return unavailable("the Solana RPC node cannot be reached; retry later: %v", err)
	}
	return fromQuery(err)
}
