package grpc

import (
	"fmt"
	"maps"

	"github.com/cyxwiz/central-server/domain"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

func specFromProto(c *pb.JobConfig, initial []byte) domain.JobSpec {
	return domain.JobSpec{
		Type:               domain.JobType(c.GetJobType()),
		Priority:           domain.Priority(c.GetPriority()),
		ModelDefinition:    c.GetModelDefinition(),
		Hyperparameters:    maps.Clone(c.GetHyperparameters()),
		DatasetURI:         c.GetDatasetUri(),
		BatchSize:          c.GetBatchSize(),
		Epochs:             c.GetEpochs(),
		RequiredDevice:     domain.DeviceType(c.GetRequiredDevice()),
		EstimatedMemory:    c.GetEstimatedMemory(),
		EstimatedDuration:  c.GetEstimatedDuration(),
		PaymentAmount:      c.GetPaymentAmount(),
		PaymentAddress:     c.GetPaymentAddress(),
		EscrowTxHash:       c.GetEscrowTxHash(),
		ReservationMinutes: c.GetReservationDurationMinutes(),
		InitialData:        initial,
	}
}

func specToProto(jobID string, s domain.JobSpec) *pb.JobConfig {
	return &pb.JobConfig{
		JobId:                      jobID,
		JobType:                    pb.JobType(s.Type),
		Priority:                   pb.JobPriority(s.Priority),
		ModelDefinition:            s.ModelDefinition,
		Hyperparameters:            maps.Clone(s.Hyperparameters),
		DatasetUri:                 s.DatasetURI,
		BatchSize:                  s.BatchSize,
		Epochs:                     s.Epochs,
		RequiredDevice:             pb.DeviceType(s.RequiredDevice),
		EstimatedMemory:            s.EstimatedMemory,
		EstimatedDuration:          s.EstimatedDuration,
		PaymentAmount:              s.PaymentAmount,
		PaymentAddress:             s.PaymentAddress,
		EscrowTxHash:               s.EscrowTxHash,
		ReservationDurationMinutes: s.ReservationMinutes,
	}
}

// statusToProto maps a job status to the wire: assigned and running are
// both IN_PROGRESS.
func statusToProto(s domain.JobStatus) pb.StatusCode {
	switch s {
	case domain.JobStatusAssigned, domain.JobStatusRunning:
		return pb.StatusCode_STATUS_IN_PROGRESS
	case domain.JobStatusCompleted:
		return pb.StatusCode_STATUS_COMPLETED
	case domain.JobStatusFailed:
		return pb.StatusCode_STATUS_FAILED
	case domain.JobStatusCancelled:
		return pb.StatusCode_STATUS_CANCELLED
	default:
		return pb.StatusCode_STATUS_PENDING
	}
}

// statusFilterFromProto maps a ListJobs status filter to job statuses.
func statusFilterFromProto(c pb.StatusCode) ([]domain.JobStatus, error) {
	switch c {
	case pb.StatusCode_STATUS_UNKNOWN:
		return nil, nil
	case pb.StatusCode_STATUS_PENDING:
		return []domain.JobStatus{domain.JobStatusPending}, nil
	case pb.StatusCode_STATUS_IN_PROGRESS:
		return []domain.JobStatus{domain.JobStatusAssigned, domain.JobStatusRunning}, nil
	case pb.StatusCode_STATUS_COMPLETED, pb.StatusCode_STATUS_SUCCESS:
		return []domain.JobStatus{domain.JobStatusCompleted}, nil
	case pb.StatusCode_STATUS_FAILED, pb.StatusCode_STATUS_ERROR:
		return []domain.JobStatus{domain.JobStatusFailed}, nil
	case pb.StatusCode_STATUS_CANCELLED:
		return []domain.JobStatus{domain.JobStatusCancelled}, nil
	}
	return nil, invalidf("filter_status %d is not a status code", c)
}

// outcome is what an incoming node status code means.
type outcome int

const (
	outcomeProgress outcome = iota
	outcomeSuccess
	outcomeFailure
)

// outcomeFromProto reads a status a node reports: SUCCESS and COMPLETED
// mean success, FAILED and ERROR failure, IN_PROGRESS progress; anything
// else is refused rather than guessed.
func outcomeFromProto(field string, c pb.StatusCode) (outcome, error) {
	switch c {
	case pb.StatusCode_STATUS_IN_PROGRESS:
		return outcomeProgress, nil
	case pb.StatusCode_STATUS_SUCCESS, pb.StatusCode_STATUS_COMPLETED:
		return outcomeSuccess, nil
	case pb.StatusCode_STATUS_FAILED, pb.StatusCode_STATUS_ERROR:
		return outcomeFailure, nil
	}
	return 0, invalidf("%s %s is not a report a node can make: use STATUS_IN_PROGRESS, STATUS_SUCCESS/STATUS_COMPLETED or STATUS_FAILED/STATUS_ERROR", field, c)
}

func nodeSpecFromProto(n *pb.NodeInfo, publicKey []byte) domain.NodeSpec {
	s := domain.NodeSpec{
		Name:                   n.GetName(),
		CPUCores:               n.GetCpuCores(),
		RAMTotal:               n.GetRamTotal(),
		RAMAvailable:           n.GetRamAvailable(),
		IPAddress:              n.GetIpAddress(),
		Port:                   n.GetPort(),
		Region:                 n.GetRegion(),
		ComputeScore:           n.GetComputeScore(),
		StakedAmount:           n.GetStakedAmount(),
		WalletAddress:          n.GetWalletAddress(),
		SupportedFormats:       n.GetSupportedFormats(),
		MaxModelSize:           n.GetMaxModelSize(),
		SupportsTerminalAccess: n.GetSupportsTerminalAccess(),
		AvailableRuntimes:      n.GetAvailableRuntimes(),
		PublicKey:              publicKey,
	}
	if v := n.GetVersion(); v != nil {
		s.Version = fmt.Sprintf("%d.%d.%d", v.GetMajor(), v.GetMinor(), v.GetPatch())
		if v.GetBuild() != "" {
			s.Version += "+" + v.GetBuild()
		}
	}
	for _, d := range n.GetDevices() {
		s.Devices = append(s.Devices, domain.Device{
			Type: domain.DeviceType(d.GetDeviceType()), Name: d.GetDeviceName(),
			MemoryTotal: d.GetMemoryTotal(), MemoryAvailable: d.GetMemoryAvailable(),
			ComputeUnits: d.GetComputeUnits(), SupportsFP64: d.GetSupportsFp64(), SupportsFP16: d.GetSupportsFp16(),
			GPUModel: d.GetGpuModel(), VRAMTotal: d.GetVramTotal(), VRAMAvailable: d.GetVramAvailable(),
			DriverVersion: d.GetDriverVersion(), CUDAVersion: d.GetCudaVersion(),
			PCIeGeneration: d.GetPcieGeneration(), PCIeLanes: d.GetPcieLanes(), ComputeCapability: d.GetComputeCapability(),
		})
	}
	if p := n.GetPricing(); p != nil {
		s.Pricing = domain.Pricing{
			BillingModel: int(p.GetBillingModel()), PricePerHour: p.GetPricePerHour(), PricePerEpoch: p.GetPricePerEpoch(),
			PricePerJobBase: p.GetPricePerJobBase(), PricePerInference: p.GetPricePerInference(),
			MinimumCharge: p.GetMinimumCharge(), MinimumDurationMinutes: p.GetMinimumDurationMinutes(),
			Discount1hPlus: p.GetDiscount_1HPlus(), Discount24hPlus: p.GetDiscount_24HPlus(), DiscountBulk: p.GetDiscountBulk(),
			USDEquivalent: p.GetUsdEquivalent(), PriceUpdatedAt: p.GetPriceUpdatedAt(),
			AcceptsCyxwizToken: p.GetAcceptsCyxwizToken(), AcceptsSOL: p.GetAcceptsSol(), AcceptsUSDC: p.GetAcceptsUsdc(),
			FreeTierAvailable: p.GetFreeTierAvailable(), FreeTierMinutes: p.GetFreeTierMinutes(),
		}
	}
	return s
}

func versionToProto(v string) *pb.Version {
	out := &pb.Version{}
	var build string
	if n, _ := fmt.Sscanf(v, "%d.%d.%d+%s", &out.Major, &out.Minor, &out.Patch, &build); n == 4 {
		out.Build = build
	}
	return out
}

func nodeSpecToProto(s domain.NodeSpec) *pb.NodeInfo {
	n := &pb.NodeInfo{
		Name: s.Name, Version: versionToProto(s.Version), CpuCores: s.CPUCores, RamTotal: s.RAMTotal,
		RamAvailable: s.RAMAvailable, IpAddress: s.IPAddress, Port: s.Port, Region: s.Region,
		ComputeScore: s.ComputeScore, StakedAmount: s.StakedAmount, WalletAddress: s.WalletAddress,
		SupportedFormats: s.SupportedFormats, MaxModelSize: s.MaxModelSize,
		SupportsTerminalAccess: s.SupportsTerminalAccess, AvailableRuntimes: s.AvailableRuntimes,
		Pricing: &pb.NodePricing{
			BillingModel: pb.NodePricing_BillingModel(s.Pricing.BillingModel), PricePerHour: s.Pricing.PricePerHour,
			PricePerEpoch: s.Pricing.PricePerEpoch, PricePerJobBase: s.Pricing.PricePerJobBase,
			PricePerInference: s.Pricing.PricePerInference, MinimumCharge: s.Pricing.MinimumCharge,
			MinimumDurationMinutes: s.Pricing.MinimumDurationMinutes, Discount_1HPlus: s.Pricing.Discount1hPlus,
			Discount_24HPlus: s.Pricing.Discount24hPlus, DiscountBulk: s.Pricing.DiscountBulk,
			UsdEquivalent: s.Pricing.USDEquivalent, PriceUpdatedAt: s.Pricing.PriceUpdatedAt,
			AcceptsCyxwizToken: s.Pricing.AcceptsCyxwizToken, AcceptsSol: s.Pricing.AcceptsSOL,
			AcceptsUsdc: s.Pricing.AcceptsUSDC, FreeTierAvailable: s.Pricing.FreeTierAvailable,
			FreeTierMinutes: s.Pricing.FreeTierMinutes,
		},
	}
	for _, d := range s.Devices {
		n.Devices = append(n.Devices, &pb.DeviceCaps{
			DeviceType: pb.DeviceType(d.Type), DeviceName: d.Name, MemoryTotal: d.MemoryTotal,
			MemoryAvailable: d.MemoryAvailable, ComputeUnits: d.ComputeUnits, SupportsFp64: d.SupportsFP64,
			SupportsFp16: d.SupportsFP16, GpuModel: d.GPUModel, VramTotal: d.VRAMTotal, VramAvailable: d.VRAMAvailable,
			DriverVersion: d.DriverVersion, CudaVersion: d.CUDAVersion, PcieGeneration: d.PCIeGeneration,
			PcieLanes: d.PCIeLanes, ComputeCapability: d.ComputeCapability,
		})
	}
	return n
}
