package grpc

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// nulField returns the path of the first string field of m (nested
// messages, lists and maps included) that contains a NUL character, or "".
// Such strings cannot be stored by every read model (PostgreSQL text
// refuses U+0000), so they are refused at the edge, where the field can
// still be named.
func nulField(m protoreflect.Message, prefix string) string {
	found := ""
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := prefix + string(fd.Name())
		switch {
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if strings.ContainsRune(k.String(), 0) {
					found = name + " (a key)"
				} else if fd.MapValue().Kind() == protoreflect.StringKind && strings.ContainsRune(mv.String(), 0) {
					found = name + "[" + clip(k.String()) + "]"
				} else if fd.MapValue().Kind() == protoreflect.MessageKind {
					found = nulField(mv.Message(), name+"["+clip(k.String())+"].")
				}
				return found == ""
			})
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && found == ""; i++ {
				switch fd.Kind() {
				case protoreflect.StringKind:
					if strings.ContainsRune(l.Get(i).String(), 0) {
						found = name + "[]"
					}
				case protoreflect.MessageKind:
					found = nulField(l.Get(i).Message(), name+"[].")
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			if strings.ContainsRune(v.String(), 0) {
				found = name
			}
		case fd.Kind() == protoreflect.MessageKind:
			found = nulField(v.Message(), name+".")
		}
		return found == ""
	})
	return found
}

// checkNUL refuses a request carrying a NUL character in any string.
func checkNUL(req any) error {
	if m, ok := req.(proto.Message); ok {
		if f := nulField(m.ProtoReflect(), ""); f != "" {
			return invalidf("%s contains a NUL character, which no field may hold", f)
		}
	}
	return nil
}

func (s *Server) nulUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err := checkNUL(req); err != nil {
		return nil, err
	}
	return next(ctx, req)
}

// nulStream checks every message a client streams in.
type nulStream struct{ grpc.ServerStream }

func (n nulStream) RecvMsg(m any) error {
	if err := n.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return checkNUL(m)
}

func (s *Server) nulStreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	return next(srv, nulStream{ss})
}
