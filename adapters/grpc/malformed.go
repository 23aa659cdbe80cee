package grpc

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// A request that is not a valid message of its method is the client's
// error: it is answered INVALID_ARGUMENT, not the INTERNAL grpc-go gives a
// decoding failure (and writes at once, before any interceptor runs). So
// the server's codec does not fail: it leaves the message empty and
// notes why, and the first interceptor answers for it.

// undecodable holds the decoding error of each request message the codec
// could not decode, until the interceptor takes it.
var undecodable sync.Map // proto.Message → error

// lenientCodec is the proto codec that never fails to decode a request.
type lenientCodec struct{ encoding.CodecV2 }

func newLenientCodec() lenientCodec { return lenientCodec{encoding.GetCodecV2("proto")} }

func (c lenientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	if m, ok := v.(proto.Message); ok && err != nil {
		proto.Reset(m)
		undecodable.Store(m, err)
		return nil
	}
	return err
}

// decodeError returns, once, the error decoding req met.
func decodeError(req any) error {
	m, ok := req.(proto.Message)
	if !ok {
		return nil
	}
	if err, found := undecodable.LoadAndDelete(m); found {
		return status.Errorf(codes.InvalidArgument, "the request is not a valid protobuf message of this method: %v", err)
	}
	return nil
}

func (s *Server) malformedUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := decodeError(req); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// malformedStream answers for each message a client streams in.
type malformedStream struct{ grpc.ServerStream }

func (m malformedStream) RecvMsg(v any) error {
	if err := m.ServerStream.RecvMsg(v); err != nil {
		return err
	}
	return decodeError(v)
}

func (s *Server) malformedStreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	return next(srv, malformedStream{ss})
}
