-- Security (issue 18): API keys, one audit log of admin actions, and least-privilege roles.

-- API keys. The secret is never stored: secret_hash is 'sha256$<salt>$<digest>' (ModelMonitor.Core.Security.ApiKeyHash).
CREATE TABLE api_keys (
    key_id      text        PRIMARY KEY,         -- 12 characters [a-z0-9]: the mmk_<key_id>_<secret> a client sends
    name        text        NOT NULL,
    secret_hash text        NOT NULL,
    scopes      text[]      NOT NULL,            -- write:predictions, write:outcomes, admin
    predictors  text[]      NOT NULL,            -- glob patterns over predictor_name; '*' = every predictor
    rate_limit  double precision,                -- requests per second; null = Auth:RateLimit:RequestsPerSecond
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text        NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    revoked_by  text
);

-- The registry's audit log becomes the audit log of every admin action: keys created and revoked, references replaced
-- and deleted, registry changes. actor: 'key:<key_id>' (a request with an API key), 'anonymous:<address>' (Auth:Mode=None),
-- 'cli:<os user>', 'file:<path>'.
ALTER TABLE predictor_registry_audit RENAME TO admin_audit;
ALTER INDEX predictor_registry_audit_predictor RENAME TO admin_audit_predictor;
ALTER TABLE admin_audit ALTER COLUMN predictor_name DROP NOT NULL;
ALTER TABLE admin_audit RENAME COLUMN body TO details;
ALTER TABLE admin_audit ADD COLUMN target text;        -- what else was acted on: a key id, a reference name
CREATE INDEX admin_audit_at ON admin_audit (at);

-- Least privilege. Group roles the deployment's login users are members of (docker-compose creates them with
-- passwords: deploy/postgres/initdb/roles.sh):
--   modelmonitor_writer  the aggregator and the API (statistics, references, registry, keys): read and write rows, no DDL
--   modelmonitor_reader  the exporter: read every table but the key hashes
--   modelmonitor_grafana Grafana's Postgres panels: read the statistics, not keys nor the audit log
-- Roles belong to the cluster: created when missing (and when this user may), granted in this database. A user who
-- may not create roles (a managed Postgres) gets a notice, and the grants for the roles that exist.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['modelmonitor_writer', 'modelmonitor_reader', 'modelmonitor_grafana'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN NULL; -- another database's migration made it just now
                WHEN insufficient_privilege THEN
                    RAISE NOTICE 'cannot create role %: create it (and grant it) as a user who may', role_name;
            END;
        END IF;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), role_name);
            EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', role_name);
            IF role_name = 'modelmonitor_writer' THEN
                EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', role_name);
                EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', role_name);
                EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', role_name);
                EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', role_name);
            ELSE
                EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA public TO %I', role_name);
                EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO %I', role_name);
                EXECUTE format('REVOKE ALL ON api_keys FROM %I', role_name);
                IF role_name = 'modelmonitor_grafana' THEN
                    EXECUTE format('REVOKE ALL ON admin_audit FROM %I', role_name);
                END IF;
            END IF;
        END IF;
    END LOOP;
END
$$;
