// Package esdbtest holds ContractFake, an in-process fake of EventStoreDB's
// gRPC contract for tests of the esdb adapter and of the server wired to
// it. It is NOT EventStoreDB: see ContractFake.
package esdbtest

// ContractFake is NOT EventStoreDB. It is an in-process gRPC server built
// from the v4 client's exported server interfaces (streams.StreamsServer,
// serverfeatures.ServerFeaturesServer) that implements, in memory, just
// enough of the server's contract for the adapter's wiring to be exercised
// here, where no EventStoreDB can run: append with expected-revision
// checks and the server's idempotent-retry rule, reads of a stream and of
// $all (forwards and backwards), and catch-up subscriptions to $all (with
// the event-type and stream filters, checkpoints, caught-up, live events),
// plus knobs to drop subscriptions and to behave like a server older than
// 23.10. Where the real server's behaviour is not documented precisely the
// fake takes the harder reading for the adapter:
//   - positions are sparse byte-like offsets (commit == prepare), starting
//     after a few system events ($settings, $users, $stats-...);
//   - a multi-event append reports the position of its first event;
//   - an append recognised as a retry reports no position.

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// RawEvent is an event as the fake recorded it, in the server's terms.
type RawEvent struct {
	ID          uuid.UUID
	Stream      string // the server's stream name
	Revision    uint64
	Position    uint64 // commit == prepare position
	Type        string
	ContentType string
	Data        []byte
	Metadata    []byte // custom metadata, as sent
	Created     time.Time
}

type ContractFake struct {
	streams.UnimplementedStreamsServer
	serverfeatures.UnimplementedServerFeaturesServer

	srv  *grpc.Server
	addr string

	noCaughtUp    atomic.Bool
	subscriptions atomic.Int64
	lastFilter    atomic.Pointer[streams.ReadReq_Options_FilterOptions]

	mu      sync.Mutex
	log     []*RawEvent
	streams map[string][]*RawEvent
	nextPos uint64
	changed chan struct{} // closed and replaced at every append
	drop    chan struct{} // closed and replaced by dropSubscriptions
}

// NewContractFake starts a fake on a loopback port; it stops at the end of
// the test.
func NewContractFake(t testing.TB) *ContractFake {
	t.Helper()
	f := &ContractFake{
		streams: map[string][]*RawEvent{},
		nextPos: 0,
		changed: make(chan struct{}),
		drop:    make(chan struct{}),
	}
	// A fresh server's log starts with system events.
	f.AppendSystem("$settings", "$settings")
	f.AppendSystem("$users", "$User")
	f.AppendSystem("$stats-127.0.0.1:2113", "$statsCollected")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = lis.Addr().String()
	f.serve(lis)
	t.Cleanup(func() { f.srv.Stop() })
	return f
}

// URL is the connection string of the fake: an insecure single node.
func (f *ContractFake) URL() string { return "esdb://" + f.addr + "?tls=false" }

// Addr is the fake's host:port.
func (f *ContractFake) Addr() string { return f.addr }

// Stop stops the server at once (it also stops at the end of the test).
func (f *ContractFake) Stop() { f.srv.Stop() }

// Restart stops the server and, after down, serves the same log again on
// the same address, as a restarted node would.
func (f *ContractFake) Restart(t testing.TB, down time.Duration) {
	t.Helper()
	f.srv.Stop()
	time.Sleep(down)
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		t.Fatalf("contract fake: listen again on %s: %v", f.addr, err)
	}
	f.serve(lis)
}

func (f *ContractFake) serve(lis net.Listener) {
	srv := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}))
	streams.RegisterStreamsServer(srv, f)
	serverfeatures.RegisterServerFeaturesServer(srv, f)
	f.srv = srv
	go func() { _ = srv.Serve(lis) }()
}

// SetNoCaughtUp makes subscriptions send no caught-up message, like a
// server before 23.10.
func (f *ContractFake) SetNoCaughtUp(on bool) { f.noCaughtUp.Store(on) }

// Subscriptions returns how many subscriptions to $all were requested.
func (f *ContractFake) Subscriptions() int64 { return f.subscriptions.Load() }

// LastFilter returns the filter of the last subscription (nil: none).
func (f *ContractFake) LastFilter() *streams.ReadReq_Options_FilterOptions {
	return f.lastFilter.Load()
}

// DropSubscriptions ends every running subscription with Unavailable, as a
// server restart or leader change would.
func (f *ContractFake) DropSubscriptions() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.drop)
	f.drop = make(chan struct{})
}

// AppendSystem records a system event, as the server does on its own.
func (f *ContractFake) AppendSystem(stream, typ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(stream, []*streams.AppendReq_ProposedMessage{{
		Id:       uuidToProto(uuid.New()),
		Metadata: map[string]string{"type": typ, "content-type": "application/json"},
		Data:     []byte(`{}`),
	}})
}

// Raw returns the recorded events of a server stream.
func (f *ContractFake) Raw(stream string) []RawEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]RawEvent, len(f.streams[stream]))
	for i, e := range f.streams[stream] {
		out[i] = *e
	}
	return out
}

// record appends under f.mu and returns the first and last new events.
func (f *ContractFake) record(stream string, msgs []*streams.AppendReq_ProposedMessage) (first, last *RawEvent) {
	now := time.Now().UTC()
	for _, m := range msgs {
		f.nextPos += 100 + uint64(len(m.Data)+len(m.CustomMetadata)) // sparse, like log offsets
		e := &RawEvent{
			ID: uuidFromProto(m.Id), Stream: stream, Revision: uint64(len(f.streams[stream])), Position: f.nextPos,
			Type: m.Metadata["type"], ContentType: m.Metadata["content-type"],
			Data: append([]byte(nil), m.Data...), Metadata: append([]byte(nil), m.CustomMetadata...), Created: now,
		}
		f.log = append(f.log, e)
		f.streams[stream] = append(f.streams[stream], e)
		if first == nil {
			first = e
		}
		last = e
	}
	close(f.changed)
	f.changed = make(chan struct{})
	return first, last
}

// GetSupportedMethods answers the client's handshake as a 24.10 node.
func (f *ContractFake) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	return &serverfeatures.SupportedMethods{
		EventStoreServerVersion: "24.10.0",
		Methods: []*serverfeatures.SupportedMethod{
			{MethodName: "read", ServiceName: "event_store.client.streams.streams"},
			{MethodName: "append", ServiceName: "event_store.client.streams.streams"},
		},
	}, nil
}

// Append implements the Streams service's Append.
func (f *ContractFake) Append(stream streams.Streams_AppendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "contract fake: the first append message must be the options")
	}
	var msgs []*streams.AppendReq_ProposedMessage
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		msgs = append(msgs, req.GetProposedMessage())
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	f.mu.Lock()
	resp := f.appendLocked(name, opts, msgs)
	f.mu.Unlock()
	return stream.SendAndClose(resp)
}

func (f *ContractFake) appendLocked(name string, opts *streams.AppendReq_Options, msgs []*streams.AppendReq_ProposedMessage) *streams.AppendResp {
	events := f.streams[name]
	exists := len(events) > 0
	last := uint64(len(events)) - 1
	// The server's idempotency rule: with an exact or no-stream
	// expectation, the events right after the expected revision; with any
	// or stream-exists, wherever the first ID is (the server's ID cache).
	start, check := uint64(0), false
	switch x := opts.ExpectedStreamRevision.(type) {
	case *streams.AppendReq_Options_Revision:
		start, check = x.Revision+1, true
	case *streams.AppendReq_Options_NoStream:
		start, check = 0, true
	default:
		if len(msgs) > 0 {
			id := uuidFromProto(msgs[0].Id)
			for _, e := range events {
				if e.ID == id {
					start, check = e.Revision, true
					break
				}
			}
		}
	}
	if check && len(msgs) > 0 && start < uint64(len(events)) && events[start].ID == uuidFromProto(msgs[0].Id) {
		for i, m := range msgs {
			j := start + uint64(i)
			if j >= uint64(len(events)) || events[j].ID != uuidFromProto(m.Id) {
				return wrongVersion(opts, last, exists) // corrupted idempotency
			}
		}
		return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
			CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: start + uint64(len(msgs)) - 1},
			PositionOption:        &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}},
		}}}
	}
	ok := true
	switch x := opts.ExpectedStreamRevision.(type) {
	case *streams.AppendReq_Options_Revision:
		ok = exists && last == x.Revision
	case *streams.AppendReq_Options_NoStream:
		ok = !exists
	case *streams.AppendReq_Options_StreamExists:
		ok = exists
	}
	if !ok {
		return wrongVersion(opts, last, exists)
	}
	firstEv, lastEv := f.record(name, msgs)
	return &streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: lastEv.Revision},
		PositionOption: &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: firstEv.Position, PreparePosition: firstEv.Position,
		}},
	}}}
}

func wrongVersion(opts *streams.AppendReq_Options, last uint64, exists bool) *streams.AppendResp {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if exists {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: last}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
	}
	switch x := opts.ExpectedStreamRevision.(type) {
	case *streams.AppendReq_Options_Revision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: x.Revision}
	case *streams.AppendReq_Options_NoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case *streams.AppendReq_Options_StreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
	}
	return &streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: w}}
}

// Read implements the Streams service's Read: stream reads, $all reads and
// $all subscriptions.
func (f *ContractFake) Read(req *streams.ReadReq, out streams.Streams_ReadServer) error {
	o := req.GetOptions()
	switch {
	case o.GetStream() != nil && o.GetSubscription() == nil:
		return f.readStream(o, out)
	case o.GetAll() != nil && o.GetSubscription() == nil:
		return f.readAll(o, out)
	case o.GetAll() != nil:
		return f.subscribeAll(o, out)
	default:
		return status.Error(codes.Unimplemented, "contract fake: stream subscriptions are not implemented")
	}
}

func (f *ContractFake) readStream(o *streams.ReadReq_Options, out streams.Streams_ReadServer) error {
	so := o.GetStream()
	name := string(so.GetStreamIdentifier().GetStreamName())
	f.mu.Lock()
	events := f.streams[name]
	var sel []*RawEvent
	if len(events) > 0 {
		count := o.GetCount()
		if o.ReadDirection == streams.ReadReq_Options_Forwards {
			from := uint64(0)
			switch x := so.RevisionOption.(type) {
			case *streams.ReadReq_Options_StreamOptions_Revision:
				from = x.Revision
			case *streams.ReadReq_Options_StreamOptions_End:
				from = uint64(len(events))
			}
			for i := from; i < uint64(len(events)) && uint64(len(sel)) < count; i++ {
				sel = append(sel, events[i])
			}
		} else {
			from := int64(len(events)) - 1
			if x, ok := so.RevisionOption.(*streams.ReadReq_Options_StreamOptions_Revision); ok {
				from = min(from, int64(x.Revision))
			} else if _, ok := so.RevisionOption.(*streams.ReadReq_Options_StreamOptions_Start); ok {
				from = 0
			}
			for i := from; i >= 0 && uint64(len(sel)) < count; i-- {
				sel = append(sel, events[i])
			}
		}
	}
	f.mu.Unlock()
	if len(events) == 0 {
		return out.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(name)},
		}}})
	}
	for _, e := range sel {
		if err := out.Send(readEvent(e)); err != nil {
			return err
		}
	}
	return nil
}

// firstAtOrAfter returns the index in f.log of the first event at or after
// position pos. f.mu is held.
func (f *ContractFake) firstAtOrAfter(pos uint64) int {
	lo, hi := 0, len(f.log)
	for lo < hi {
		mid := (lo + hi) / 2
		if f.log[mid].Position < pos {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

func (f *ContractFake) readAll(o *streams.ReadReq_Options, out streams.Streams_ReadServer) error {
	count := o.GetCount()
	f.mu.Lock()
	var sel []*RawEvent
	if o.ReadDirection == streams.ReadReq_Options_Forwards {
		i := 0
		switch x := o.GetAll().AllOption.(type) {
		case *streams.ReadReq_Options_AllOptions_Position:
			i = f.firstAtOrAfter(x.Position.CommitPosition)
		case *streams.ReadReq_Options_AllOptions_End:
			i = len(f.log)
		}
		for ; i < len(f.log) && uint64(len(sel)) < count; i++ {
			sel = append(sel, f.log[i])
		}
	} else {
		i := len(f.log) - 1
		switch x := o.GetAll().AllOption.(type) {
		case *streams.ReadReq_Options_AllOptions_Position:
			i = f.firstAtOrAfter(x.Position.CommitPosition) - 1
		case *streams.ReadReq_Options_AllOptions_Start:
			i = -1
		}
		for ; i >= 0 && uint64(len(sel)) < count; i-- {
			sel = append(sel, f.log[i])
		}
	}
	f.mu.Unlock()
	for _, e := range sel {
		if err := out.Send(readEvent(e)); err != nil {
			return err
		}
	}
	return nil
}

// matcher is a subscription's filter.
type matcher func(*RawEvent) bool

func newMatcher(fo *streams.ReadReq_Options_FilterOptions) (matcher, error) {
	if fo == nil {
		return func(*RawEvent) bool { return true }, nil
	}
	expr, onType := fo.GetEventType(), true
	if expr == nil {
		expr, onType = fo.GetStreamIdentifier(), false
	}
	var re *regexp.Regexp
	if expr.GetRegex() != "" {
		var err error
		if re, err = regexp.Compile(expr.GetRegex()); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "contract fake: filter regex: %v", err)
		}
	}
	prefixes := expr.GetPrefix()
	return func(e *RawEvent) bool {
		s := e.Stream
		if onType {
			s = e.Type
		}
		if re != nil {
			return re.MatchString(s)
		}
		for _, p := range prefixes {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}, nil
}

// subscribeAll is a catch-up subscription to $all: events after the
// position, a checkpoint and caught-up at the head, then live events.
func (f *ContractFake) subscribeAll(o *streams.ReadReq_Options, out streams.Streams_ReadServer) error {
	n := f.subscriptions.Add(1)
	fo := o.GetFilter()
	f.lastFilter.Store(fo)
	match, err := newMatcher(fo)
	if err != nil {
		return err
	}
	f.mu.Lock()
	cursor := 0 // index in f.log of the next event to consider
	switch x := o.GetAll().AllOption.(type) {
	case *streams.ReadReq_Options_AllOptions_Position:
		cursor = f.firstAtOrAfter(x.Position.CommitPosition + 1) // after the position
	case *streams.ReadReq_Options_AllOptions_End:
		cursor = len(f.log)
	}
	drop := f.drop
	f.mu.Unlock()
	if err := out.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: "contract-fake-" + strconv.FormatInt(n, 10),
	}}}); err != nil {
		return err
	}
	caughtUp := false
	for {
		f.mu.Lock()
		batch := append([]*RawEvent(nil), f.log[cursor:min(cursor+64, len(f.log))]...)
		changed := f.changed
		f.mu.Unlock()
		var scanned *RawEvent
		for _, e := range batch {
			select {
			case <-drop:
				return status.Error(codes.Unavailable, "contract fake dropped the subscription")
			default:
			}
			cursor++
			scanned = e
			if !match(e) {
				continue
			}
			if err := out.Send(readEvent(e)); err != nil {
				return err
			}
		}
		if len(batch) > 0 {
			if fo != nil && scanned != nil {
				if err := out.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{
					CommitPosition: scanned.Position, PreparePosition: scanned.Position,
				}}}); err != nil {
					return err
				}
			}
			continue
		}
		if !caughtUp {
			caughtUp = true
			if !f.noCaughtUp.Load() {
				if err := out.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}}); err != nil {
					return err
				}
			}
		}
		select {
		case <-changed:
		case <-drop:
			return status.Error(codes.Unavailable, "contract fake dropped the subscription")
		case <-out.Context().Done():
			return out.Context().Err()
		}
	}
}

func readEvent(e *RawEvent) *streams.ReadResp {
	ticks := e.Created.UnixNano() / 100
	return &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
		Event: &streams.ReadResp_ReadEvent_RecordedEvent{
			Id:               uuidToProto(e.ID),
			StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
			StreamRevision:   e.Revision,
			PreparePosition:  e.Position,
			CommitPosition:   e.Position,
			Metadata:         map[string]string{"type": e.Type, "content-type": e.ContentType, "created": strconv.FormatInt(ticks, 10)},
			CustomMetadata:   e.Metadata,
			Data:             e.Data,
		},
		Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.Position},
	}}}
}

func uuidToProto(id uuid.UUID) *shared.UUID {
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

func uuidFromProto(u *shared.UUID) uuid.UUID {
	if s := u.GetStructured(); s != nil {
		var id uuid.UUID
		binary.BigEndian.PutUint64(id[:8], uint64(s.MostSignificantBits))
		binary.BigEndian.PutUint64(id[8:], uint64(s.LeastSignificantBits))
		return id
	}
	id, err := uuid.Parse(u.GetString_())
	if err != nil {
		panic(fmt.Sprintf("contract fake: bad uuid %q", u.GetString_()))
	}
	return id
}
