-- Read models of the CyxWiz central server: every table is a projection of
-- the event log and can be rebuilt from it (cyxwiz-central replay). Times
-- are timestamptz (microseconds); a zero time of a view is NULL.

-- +goose Up

-- checkpoints: the global position of the last event each projector
-- applied, written in the transaction that applies the batch.
CREATE TABLE checkpoints (
    name     text PRIMARY KEY,
    position bigint NOT NULL CHECK (position >= 0)
);

-- jobs: projections.JobView. job_type, priority, required_device and
-- estimated_memory repeat fields of spec for filters and the queue.
CREATE TABLE jobs (
    id                 text PRIMARY KEY,
    owner              text NOT NULL,
    job_type           smallint NOT NULL,
    priority           smallint NOT NULL,
    required_device    smallint NOT NULL,
    estimated_memory   bigint NOT NULL,
    status             smallint NOT NULL, -- domain.JobStatus: 0 pending, 1 assigned, 2 running, 3 completed, 4 failed, 5 cancelled
    deleted            boolean NOT NULL,
    node_id            text NOT NULL,
    accepted           boolean NOT NULL,
    accepted_at        timestamptz,
    progress           double precision NOT NULL,
    epoch              integer NOT NULL,
    metrics            jsonb,
    attempts           integer NOT NULL,
    requeues           integer NOT NULL,
    submitted_at       timestamptz,
    assigned_at        timestamptz,
    started_at         timestamptz,
    ended_at           timestamptz,
    reason             text NOT NULL,
    result             jsonb,
    last_log           text NOT NULL,
    spec               jsonb NOT NULL,
    submitted_position bigint NOT NULL,
    revision           bigint NOT NULL,
    position           bigint NOT NULL
);
-- Lists: newest first, by every filter the API has.
CREATE INDEX jobs_list ON jobs (submitted_position DESC) WHERE NOT deleted;
CREATE INDEX jobs_list_owner ON jobs (owner, submitted_position DESC) WHERE NOT deleted;
CREATE INDEX jobs_list_status ON jobs (status, submitted_position DESC) WHERE NOT deleted;
-- The queue and the jobs on nodes, loaded at start.
CREATE INDEX jobs_open ON jobs (status) WHERE status IN (0, 1, 2);

-- job_counts: jobs that are not deleted, by owner, type and status, so a
-- list's total is a sum of a few rows instead of a count of every job.
CREATE TABLE job_counts (
    owner    text NOT NULL,
    job_type smallint NOT NULL,
    status   smallint NOT NULL,
    n        bigint NOT NULL, -- 0 once every such job moved on or was deleted
    PRIMARY KEY (owner, job_type, status)
);

-- nodes: projections.NodeView without its reservations. name, region,
-- price_per_hour and compute_score repeat fields of spec for SQL readers.
CREATE TABLE nodes (
    id                 text PRIMARY KEY,
    owner              text NOT NULL,
    name               text NOT NULL,
    region             text NOT NULL,
    price_per_hour     double precision NOT NULL,
    compute_score      double precision NOT NULL,
    online             boolean NOT NULL,
    banned             boolean NOT NULL,
    reputation         double precision NOT NULL,
    spec               jsonb NOT NULL,
    registered_at      timestamptz,
    went_online_at     timestamptz,
    went_offline_at    timestamptz,
    online_duration_ns bigint NOT NULL,
    last_seen          timestamptz,
    jobs_completed     bigint NOT NULL,
    compute_ms         bigint NOT NULL,
    last_metrics       jsonb,
    last_metrics_at    timestamptz,
    revision           bigint NOT NULL,
    position           bigint NOT NULL
);

-- node_reservations: the job slots each node holds, in the order taken.
CREATE TABLE node_reservations (
    node_id     text NOT NULL,
    job_id      text NOT NULL,
    slot        integer NOT NULL,
    reserved_at timestamptz,
    PRIMARY KEY (node_id, job_id)
);

-- metric_samples: every NodeMetricsSampled of a registered node.
CREATE TABLE metric_samples (
    position           bigint PRIMARY KEY,
    node_id            text NOT NULL,
    at                 timestamptz NOT NULL,
    cpu_usage          double precision NOT NULL,
    gpu_usage          double precision NOT NULL,
    memory_usage       double precision NOT NULL,
    network_throughput double precision NOT NULL,
    power_consumption  double precision NOT NULL,
    active_jobs        bigint NOT NULL,
    ram_available      bigint NOT NULL
);
CREATE INDEX metric_samples_node ON metric_samples (node_id, at, position);

-- hourly_stats: projections.HourCounts per hour of recorded time (UTC).
-- The average duration is duration_ms / timed.
CREATE TABLE hourly_stats (
    hour        timestamptz PRIMARY KEY,
    submitted   bigint NOT NULL,
    completed   bigint NOT NULL,
    failed      bigint NOT NULL,
    cancelled   bigint NOT NULL,
    timed       bigint NOT NULL,
    duration_ms bigint NOT NULL
);

-- activity: projections.ActivityOf of every event that is an action.
CREATE TABLE activity (
    position bigint PRIMARY KEY,
    at       timestamptz NOT NULL,
    event    text NOT NULL,
    stream   text NOT NULL,
    job_id   text NOT NULL,
    node_id  text NOT NULL,
    actor    text NOT NULL,
    summary  text NOT NULL
);

-- payments: projections.PaymentView per job, filled by the settlement
-- saga's payment-<job> events.
CREATE TABLE payments (
    job_id     text PRIMARY KEY,
    status     text NOT NULL,
    amount     double precision NOT NULL,
    payer      text NOT NULL,
    payee      text NOT NULL,
    signature  text NOT NULL,
    updated_at timestamptz NOT NULL,
    position   bigint NOT NULL
);
CREATE INDEX payments_recent ON payments (updated_at DESC, job_id DESC);
CREATE INDEX payments_status ON payments (status, updated_at DESC, job_id DESC);

-- +goose Down
DROP TABLE payments;
DROP TABLE activity;
DROP TABLE hourly_stats;
DROP TABLE metric_samples;
DROP TABLE node_reservations;
DROP TABLE nodes;
DROP TABLE job_counts;
DROP TABLE jobs;
DROP TABLE checkpoints;
