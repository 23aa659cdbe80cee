package grpc

import (
	"context"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// register registers a service whose handlers answer a request that is
// not a valid message of its method INVALID_ARGUMENT, not the INTERNAL
// grpc-go gives a decoding failure: the client sent it wrong, the server
// is fine.
func (s *Server) register(desc *grpc.ServiceDesc, impl any) {
	d := *desc
	d.Methods = slices.Clone(desc.Methods)
	for i := range d.Methods {
		h := d.Methods[i].Handler
		d.Methods[i].Handler = func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			return h(srv, ctx, func(m any) error { return malformed(dec(m)) }, in)
		}
	}
	d.Streams = slices.Clone(desc.Streams)
	for i := range d.Streams {
		h := d.Streams[i].Handler
		d.Streams[i].Handler = func(srv any, ss grpc.ServerStream) error { return h(srv, malformedStream{ss}) }
	}
	s.grpc.RegisterService(&d, impl)
}

// malformed maps grpc-go's failure to decode a request to INVALID_ARGUMENT.
func malformed(err error) error {
	if err == nil || status.Code(err) != codes.Internal {
		return err
	}
	if msg := status.Convert(err).Message(); strings.Contains(msg, "unmarshal") {
		return status.Error(codes.InvalidArgument, "the request is not a valid protobuf message of this method: "+strings.TrimPrefix(msg, "grpc: "))
	}
	return err
}

type malformedStream struct{ grpc.ServerStream }

func (m malformedStream) RecvMsg(v any) error { return malformed(m.ServerStream.RecvMsg(v)) }
