package grpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"

	"github.com/cyxwiz/central-server/adapters/tlsconf"
	"github.com/cyxwiz/central-server/commands"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
)

// NodeClient pushes assignments to nodes' own NodeService.AssignJob over
// gRPC, keeping one connection per control address.
type NodeClient struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
	opts  []grpc.DialOption
}

var _ commands.NodeClient = (*NodeClient)(nil)

// NewNodeClient returns a client that pushes over TLS with tlsConfig, or
// in plaintext when it is nil (nodes on the CyxWiz network listen without
// TLS on their control port unless the operator gives them certificates).
// Under TLS the node's certificate must verify against tlsConfig.RootCAs
// for the host it is dialled at.
func NewNodeClient(tlsConfig *tls.Config) *NodeClient {
	return &NodeClient{conns: map[string]*grpc.ClientConn{}, opts: []grpc.DialOption{grpc.WithTransportCredentials(tlsconf.Credentials(tlsConfig))}}
}

func (c *NodeClient) conn(address string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[address]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(address, c.opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	c.conns[address] = cc
	return cc, nil
}

// AssignJob implements commands.NodeClient.
func (c *NodeClient) AssignJob(ctx context.Context, address string, o commands.Order) (bool, string, error) {
	cc, err := c.conn(address)
	if err != nil {
		return false, "", err
	}
	resp, err := pb.NewNodeServiceClient(cc).AssignJob(ctx, &pb.AssignJobRequest{
		NodeId:             o.NodeID,
		Job:                specToProto(o.JobID, o.Spec),
		AuthorizationToken: o.Token,
	}, grpc.WaitForReady(false))
	if err != nil {
		if strings.Contains(err.Error(), "authentication handshake failed") {
			return false, "", fmt.Errorf("TLS to node %s at %s failed; its certificate must chain to server.tls_node_ca_file and be valid for %s: %w",
				o.NodeID, address, address, err)
		}
		return false, "", err
	}
	if resp.GetJobId() != "" && resp.GetJobId() != o.JobID {
		return false, "", fmt.Errorf("node answered for job %s, not %s", resp.GetJobId(), o.JobID)
	}
	return resp.GetAccepted(), resp.GetError().GetMessage(), nil
}

// Close closes every connection.
func (c *NodeClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, cc := range c.conns {
		cc.Close()
		delete(c.conns, addr)
	}
	return nil
}
