package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/adapters/grpcclient"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/metadata"
)

// submit is the demo client: it submits --jobs unpaid training jobs as
// the token's user, follows each with StreamJobUpdates, prints every
// status and progress change, and returns when all are terminal (an
// error if any did not get there within --timeout).
//
//	cyxwiz-node-sim submit --server central:50051 --token "$TOKEN" --jobs 3
func submit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cyxwiz-node-sim submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "127.0.0.1:50051", "central server gRPC address")
	creds := credentialFlags(fs, "CYXWIZ_TOKEN", "demo")
	jobs := fs.Int("jobs", 3, "number of jobs to submit")
	device := fs.String("device", "cuda", "required device: cpu, cuda, opencl, metal, vulkan")
	memGiB := fs.Int64("mem-gib", 4, "estimated memory per job in GiB")
	epochs := fs.Int("epochs", 3, "epochs per job")
	timeout := fs.Duration("timeout", 5*time.Minute, "give up waiting after this long")
	var files tlsconf.ClientFiles
	files.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	token, err := creds.bearer()
	if err != nil {
		return err
	}
	dt, ok := devicesByName[strings.ToLower(*device)]
	switch {
	case !ok:
		return fmt.Errorf("--device %q: want one of cpu, cuda, opencl, metal, vulkan", *device)
	case *jobs < 1 || *jobs > 1000:
		return fmt.Errorf("--jobs must be within 1..1000, got %d", *jobs)
	case *epochs < 1 || *memGiB < 0 || *timeout <= 0:
		return errors.New("--epochs must be ≥ 1, --mem-gib ≥ 0, --timeout > 0")
	}
	transport, err := files.DialOption()
	if err != nil {
		return err
	}
	cc, err := grpcclient.Dial(*server, transport)
	if err != nil {
		return fmt.Errorf("dial %s: %w", *server, err)
	}
	defer cc.Close()
	client := pb.NewJobServiceClient(cc)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)

	out := &lockedWriter{w: stdout}
	ids := make([]string, 0, *jobs)
	for i := range *jobs {
		// payment_amount 0: an unpaid job. A server with settlement on
		// may require escrow; see the README's compose section.
		resp, err := client.SubmitJob(ctx, &pb.SubmitJobRequest{Config: &pb.JobConfig{
			JobType: pb.JobType_JOB_TYPE_TRAINING, Priority: pb.JobPriority_PRIORITY_NORMAL, RequiredDevice: dt,
			EstimatedMemory: *memGiB << 30, Epochs: int32(*epochs), BatchSize: 32,
			ModelDefinition: fmt.Sprintf("demo-model-%d", i+1), DatasetUri: "sim://datasets/demo",
		}})
		if err != nil {
			return fmt.Errorf("SubmitJob: %w", err)
		}
		ids = append(ids, resp.GetJobId())
		fmt.Fprintf(out, "submitted job %s\n", resp.GetJobId())
	}

	final := make([]pb.StatusCode, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { final[i], errs[i] = follow(ctx, client, id, out) })
	}
	wg.Wait()
	counts := map[string]int{}
	for _, st := range final {
		counts[statusName(st)]++
	}
	fmt.Fprintf(out, "done: %v\n", counts)
	return errors.Join(errs...)
}

// follow streams one job's updates until it is terminal, printing changes.
func follow(ctx context.Context, client pb.JobServiceClient, id string, out io.Writer) (pb.StatusCode, error) {
	short := id
	if len(short) > 8 {
		short = short[:8]
	}
	var last *pb.JobStatus // the last status printed, across reopened streams
	for {
		stream, err := client.StreamJobUpdates(ctx, &pb.GetJobStatusRequest{JobId: id})
		if err != nil {
			return 0, fmt.Errorf("job %s: %w", id, err)
		}
		for {
			u, err := stream.Recv()
			if err != nil {
				if ctx.Err() != nil {
					return last.GetStatus(), fmt.Errorf("job %s: not terminal in time (last %s): %w", id, statusName(last.GetStatus()), ctx.Err())
				}
				break // the server closed the stream; reopen unless terminal
			}
			st := u.GetStatus()
			if last == nil || st.GetStatus() != last.GetStatus() || st.GetProgress() != last.GetProgress() {
				line := fmt.Sprintf("job %s %-11s %3.0f%%", short, statusName(st.GetStatus()), st.GetProgress()*100)
				if n := st.GetCurrentNodeId(); n != "" {
					line += " on node " + n
				}
				if msg := st.GetError().GetMessage(); msg != "" {
					line += " (" + msg + ")"
				}
				fmt.Fprintln(out, line)
			}
			last = st
			if terminal(st.GetStatus()) {
				return st.GetStatus(), nil
			}
		}
		if last != nil && terminal(last.GetStatus()) {
			return last.GetStatus(), nil
		}
		select {
		case <-ctx.Done():
			return last.GetStatus(), fmt.Errorf("job %s: %w", id, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func terminal(s pb.StatusCode) bool {
	switch s {
	case pb.StatusCode_STATUS_COMPLETED, pb.StatusCode_STATUS_FAILED, pb.StatusCode_STATUS_CANCELLED:
		return true
	}
	return false
}

// statusName is "completed" for STATUS_COMPLETED.
func statusName(s pb.StatusCode) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}
