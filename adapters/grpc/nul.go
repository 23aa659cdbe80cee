package grpc

import (
	"context"
	"strings"

	"github.com/google/uuid"
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
	lowerIDs(req)
	return next(ctx, req)
}

// idFields are the fields that name jobs and nodes, at any depth.
var idFields = map[protoreflect.Name]bool{"job_id": true, "node_id": true, "active_jobs": true}

// lowerIDs writes the job and node ids of a request in lower case, so
// that UUIDs differing only in case name one job or node.
func lowerIDs(req any) {
	if m, ok := req.(proto.Message); ok {
		lowerIDFields(m.ProtoReflect())
	}
}

func lowerIDFields(m protoreflect.Message) {
	var set []protoreflect.FieldDescriptor // not changed during Range
	defer func() {
		for _, fd := range set {
			m.Set(fd, protoreflect.ValueOfString(strings.ToLower(m.Get(fd).String())))
		}
	}()
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				lowerIDFields(l.Get(i).Message())
			}
		case fd.Kind() == protoreflect.MessageKind:
			lowerIDFields(v.Message())
		case fd.Kind() == protoreflect.StringKind && idFields[fd.Name()] && fd.IsList():
			for i, l := 0, v.List(); i < l.Len(); i++ {
				if id := l.Get(i).String(); isUUID(id) {
					l.Set(i, protoreflect.ValueOfString(strings.ToLower(id)))
				}
			}
		case fd.Kind() == protoreflect.StringKind && idFields[fd.Name()]:
			if id := v.String(); isUUID(id) && id != strings.ToLower(id) {
				set = append(set, fd)
			}
		}
		return true
	})
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// nulStream checks every message a client streams in.
type nulStream struct{ grpc.ServerStream }

func (n nulStream) RecvMsg(m any) error {
	if err := n.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := checkNUL(m); err != nil {
		return err
	}
	lowerIDs(m)
	return nil
}

func (s *Server) nulStreamInterceptor(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, next grpc.StreamHandler) error {
	return next(srv, nulStream{ss})
}
