package grpc

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/adapters/netpolicy"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	"github.com/cyxwiz/central-server/commands"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	lru "github.com/hashicorp/golang-lru/v2"
	"google.golang.org/grpc"
)

// NodeClientConfig bounds the dispatcher's connections to nodes.
type NodeClientConfig struct {
	// MaxConns is how many connections are kept (least recently used
	// first out; default 256). A connection evicted while a push runs on
	// it is closed when the push ends.
	MaxConns int
	// IdleTimeout closes a connection unused this long (default 60 s).
	IdleTimeout time.Duration
	// Policy is which addresses may be dialled (default: the private
	// mode of netpolicy); it is checked on every connection, after name
	// resolution.
	Policy *netpolicy.Policy
	// TLS, when set, pushes over TLS: the node's certificate must verify
	// against TLS.RootCAs for the host it is dialled at. Nil pushes in
	// plaintext (nodes on the CyxWiz network listen without TLS on their
	// control port unless the operator gives them certificates).
	TLS *tls.Config
}

// NodeClient pushes assignments to nodes' own NodeService.AssignJob over
// gRPC. It keeps one connection per control address, at most MaxConns of
// them, each closed once idle for IdleTimeout: anyone can register a
// node, so addresses are not a resource the server may hold forever.
type NodeClient struct {
	cfg    NodeClientConfig
	opts   []grpc.DialOption
	policy *netpolicy.Policy

	mu    sync.Mutex
	conns *lru.Cache[string, *nodeConn] // control address → connection
	stop  chan struct{}
	done  chan struct{}
}

type nodeConn struct {
	cc       *grpc.ClientConn
	refs     int // pushes running on it
	lastUsed time.Time
	evicted  bool // out of the cache: close when refs reaches 0
}

var _ commands.NodeClient = (*NodeClient)(nil)

// NewNodeClient returns a client and starts its idle sweeper; Close stops it.
func NewNodeClient(cfg NodeClientConfig) *NodeClient {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 256
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Minute
	}
	if cfg.Policy == nil {
		cfg.Policy, _ = netpolicy.New(netpolicy.ModePrivate, nil)
	}
	c := &NodeClient{cfg: cfg, policy: cfg.Policy, stop: make(chan struct{}), done: make(chan struct{})}
	dialer := &net.Dialer{Control: cfg.Policy.Control}
	c.opts = []grpc.DialOption{
		grpc.WithTransportCredentials(tlsconf.Credentials(cfg.TLS)),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, "tcp", addr)
		}),
	}
	c.conns, _ = lru.NewWithEvict(cfg.MaxConns, func(_ string, n *nodeConn) {
		n.evicted = true
		if n.refs == 0 {
			go n.cc.Close()
		}
	})
	go c.sweep()
	return c
}

// Open is how many connections are kept (for tests and metrics).
func (c *NodeClient) Open() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns.Len()
}

// sweep closes connections idle for IdleTimeout.
func (c *NodeClient) sweep() {
	defer close(c.done)
	t := time.NewTicker(max(c.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			for _, addr := range c.conns.Keys() { // oldest first
				n, ok := c.conns.Peek(addr)
				if ok && n.refs == 0 && now.Sub(n.lastUsed) >= c.cfg.IdleTimeout {
					c.conns.Remove(addr)
				}
			}
			c.mu.Unlock()
		}
	}
}

// acquire returns address's connection, dialling it if needed, held until
// release.
func (c *NodeClient) acquire(address string) (*nodeConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.conns.Get(address); ok {
		n.refs++
		return n, nil
	}
	cc, err := grpc.NewClient(address, c.opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	n := &nodeConn{cc: cc, refs: 1}
	c.conns.Add(address, n)
	return n, nil
}

func (c *NodeClient) release(n *nodeConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n.refs--
	n.lastUsed = time.Now()
	if n.evicted && n.refs == 0 {
		go n.cc.Close()
	}
}

// AssignJob implements commands.NodeClient. An address the policy refuses
// is answered with a commands.ErrAddressRefused error without dialling.
func (c *NodeClient) AssignJob(ctx context.Context, address string, o commands.Order) (bool, string, error) {
	if err := c.checkAddress(ctx, address); err != nil {
		return false, "", err
	}
	n, err := c.acquire(address)
	if err != nil {
		return false, "", err
	}
	defer c.release(n)
	resp, err := pb.NewNodeServiceClient(n.cc).AssignJob(ctx, &pb.AssignJobRequest{
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

// checkAddress refuses, before any dial, an address the policy refuses:
// an IP literal, or a host name any of whose addresses is refused. (The
// dialer's Control checks again what each connection really reaches.)
func (c *NodeClient) checkAddress(ctx context.Context, address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", commands.ErrAddressRefused, address, err)
	}
	if err := c.policy.CheckHost(host); err != nil {
		return fmt.Errorf("%w: %v", commands.ErrAddressRefused, err)
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil // unresolvable now: the dial reports it (and is retried)
	}
	for _, a := range addrs {
		if err := c.policy.Check(a); err != nil {
			return fmt.Errorf("%w: host %s resolves to a refused address: %v", commands.ErrAddressRefused, host, err)
		}
	}
	return nil
}

// Close stops the sweeper and closes every connection.
func (c *NodeClient) Close() error {
	c.mu.Lock()
	select {
	case <-c.stop:
		c.mu.Unlock()
		return nil
	default:
	}
	close(c.stop)
	c.conns.Purge()
	c.mu.Unlock()
	<-c.done
	return nil
}
