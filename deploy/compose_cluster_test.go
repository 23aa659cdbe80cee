package deploy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/adapters/config"
)

// TestComposeClusterVariant: docker-compose.cluster.yml on top of the base
// file runs three central replicas whose configurations load, each on the
// PostgreSQL log and the one Redis under its own replica id and host
// ports, and points the simulated nodes at all three.
func TestComposeClusterVariant(t *testing.T) {
	c := loadCompose(t, nil, "docker-compose.cluster.yml")
	redis, ok := c.Services["redis"]
	if !ok || redis.Healthcheck == nil || !strings.Contains(redis.Image, ":") {
		t.Fatalf("redis service: %+v", redis)
	}
	replicas := []string{"central", "central-2", "central-3"}
	var ids, ports []string
	for _, name := range replicas {
		svc, ok := c.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		if svc.DependsOn["redis"].Condition != "service_healthy" || svc.DependsOn["postgres"].Condition != "service_healthy" {
			t.Errorf("%s does not wait for redis and postgres: %v", name, svc.DependsOn)
		}
		one := c
		one.Services = map[string]service{"central": svc}
		cfg, err := serverConfig(t, one)
		if err != nil {
			t.Fatalf("%s: config does not load: %v", name, err)
		}
		if cfg.EventStore.Backend != config.BackendPostgres || cfg.Redis.URL != "redis://redis:6379/0" || cfg.Database.InMemory() {
			t.Errorf("%s: log %q, redis %q, database %q; want the PostgreSQL log and read models and the shared Redis",
				name, cfg.EventStore.Backend, cfg.Redis.URL, cfg.Redacted().Database.URL)
		}
		ids = append(ids, cfg.Redis.ReplicaID)
		ports = append(ports, svc.Ports...)
	}
	distinct := func(s []string) int { return len(slices.Compact(slices.Sorted(slices.Values(s)))) }
	if distinct(ids) != 3 {
		t.Errorf("replica ids %v are not distinct", ids)
	}
	if distinct(ports) != 6 {
		t.Errorf("host ports %v: want two distinct ones per replica", ports)
	}
	server := flagValue(c.Services["node-sim"].Command, "server")
	for _, name := range replicas {
		if !strings.Contains(server, name+":50051") {
			t.Errorf("node-sim --server=%s does not list %s", server, name)
		}
	}
}
