package grpc

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/protobuf/proto"
)

// FuzzWalletRequests decodes arbitrary bytes as each WalletService
// request and calls the service directly: every answer is a result or a
// deliberate refusal, never a panic or an internal error.
func FuzzWalletRequests(f *testing.F) {
	seeds := []proto.Message{
		&pb.ConnectWalletRequest{WalletAddress: "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"},
		&pb.GetBalanceRequest{WalletAddress: "11111111111111111111111111111111"},
		&pb.GetTransactionHistoryRequest{WalletAddress: readmodeltest.WalletBob, Limit: 2, Offset: 1},
		&pb.EstimateJobCostRequest{ModelType: "resnet", Epochs: 10, DatasetSize: 50_000, NodeTier: "gpu"},
	}
	for i, m := range seeds {
		b, _ := proto.Marshal(m)
		f.Add(uint8(i), b)
	}
	envs, _ := readmodeltest.PaymentHistory()
	model := memory.New(memory.Config{})
	if err := model.Apply(context.Background(), envs, envs[len(envs)-1].Position); err != nil {
		f.Fatal(err)
	}
	srv := New(Deps{Now: time.Now, Wallet: WalletDeps{Balances: fakeBalances{}, History: model}}, Options{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	w := newWalletService(srv)
	user := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.KindUser, Subject: "alice"})
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		var err error
		switch which % 4 {
		case 0:
			var req pb.ConnectWalletRequest
			if proto.Unmarshal(data, &req) == nil {
				_, err = w.ConnectWallet(user, &req)
			}
		case 1:
			var req pb.GetBalanceRequest
			if proto.Unmarshal(data, &req) == nil {
				_, err = w.GetBalance(user, &req)
			}
		case 2:
			var req pb.GetTransactionHistoryRequest
			if proto.Unmarshal(data, &req) == nil {
				_, err = w.GetTransactionHistory(user, &req)
			}
		case 3:
			var req pb.EstimateJobCostRequest
			if proto.Unmarshal(data, &req) == nil {
				var resp *pb.EstimateJobCostResponse
				if resp, err = w.EstimateJobCost(user, &req); err == nil {
					if c := resp.GetEstimatedCost(); c != c || c < 0 || resp.GetEstimatedTimeMinutes() < 0 {
						t.Fatalf("EstimateJobCost(%v) = %v", &req, resp)
					}
				}
			}
		}
		checkAnswer(t, "WalletService", err)
	})
}
