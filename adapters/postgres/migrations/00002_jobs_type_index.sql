-- Listing jobs by type (REST /api/jobs?type=, ListJobs filter_type) walked
-- the whole table when few or no jobs had that type: give it its index.

-- +goose Up
CREATE INDEX jobs_list_type ON jobs (job_type, submitted_position DESC) WHERE NOT deleted;

-- +goose Down
DROP INDEX jobs_list_type;
