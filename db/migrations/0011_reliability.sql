-- 0011_reliability: shared circuit-breaker state and service heartbeats
-- (sl/cb.h, sl/svc.h; read by statline-cb and statline-monitor).

-- One row per (service, dependency) breaker, shared by every replica of the
-- service: replicas re-read it through a cache (cb.cache_ttl_ms, 30 s by
-- default) and write every transition at once. forced is the operator's
-- override (statline-cb open|close) and wins over state.
CREATE TABLE ops.circuit_breakers (
        service    text NOT NULL CHECK (length(service) BETWEEN 1 AND 63),
        dependency text NOT NULL CHECK (length(dependency) BETWEEN 1 AND 63),
        state      text NOT NULL DEFAULT 'CLOSED' CHECK (state IN ('CLOSED', 'OPEN', 'HALF_OPEN')),
        forced     text CHECK (forced IN ('forced_open', 'forced_closed')),
        opened_at  timestamptz,                      -- when it last opened
        updated_at timestamptz NOT NULL DEFAULT now(), -- when state was last entered or written
        failures   integer NOT NULL DEFAULT 0 CHECK (failures >= 0), -- in the window at the transition
        calls      integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
        PRIMARY KEY (service, dependency)
);
SELECT ops.add_replay_guard('ops.circuit_breakers');

-- One row per running service process, upserted every few seconds
-- (heartbeat.interval_ms); a row whose last_seen is old is a dead or hung
-- instance. breakers summarises the process's breakers:
-- {"pg": "CLOSED", "bus": "OPEN"}.
CREATE TABLE ops.service_heartbeat (
        service    text NOT NULL,
        instance   text NOT NULL,                   -- "<host>-<pid>"
        host       text NOT NULL,
        pid        integer NOT NULL,
        started_at timestamptz NOT NULL,
        last_seen  timestamptz NOT NULL DEFAULT now(),
        ready      boolean NOT NULL,
        breakers   jsonb NOT NULL DEFAULT '{}',
        updated_at timestamptz NOT NULL DEFAULT now(), -- for the replay guard (= last_seen)
        PRIMARY KEY (service, instance)
);
CREATE INDEX service_heartbeat_last_seen_idx ON ops.service_heartbeat (last_seen);
SELECT ops.add_replay_guard('ops.service_heartbeat');
