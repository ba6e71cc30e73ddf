-- Users, quotas, jobs and images. The bot owns this database; workers never connect to it.

CREATE TABLE users (
    id              BIGINT PRIMARY KEY,              -- Discord user id (snowflake)
    name            TEXT NOT NULL,                   -- Discord name at the last interaction
    gallery_public  BOOLEAN NOT NULL DEFAULT TRUE,   -- may the gallery show this user's images?
    banned          BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per user. The allowance is charged by one atomic UPDATE ... WHERE used + n <= limit.
-- NULL limits mean "the server's default" (configuration); admins set per-user overrides.
CREATE TABLE quotas (
    user_id         BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    daily_limit     INTEGER CHECK (daily_limit >= 0),       -- images per day, override
    max_active      INTEGER CHECK (max_active >= 0),        -- jobs queued or running at once, override
    period_day      DATE NOT NULL,                          -- the day used_today counts
    used_today      INTEGER NOT NULL DEFAULT 0 CHECK (used_today >= 0),
    active_jobs     INTEGER NOT NULL DEFAULT 0 CHECK (active_jobs >= 0),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id                UUID PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES users (id),
    guild_id          BIGINT,                          -- NULL in direct messages
    channel_id        BIGINT NOT NULL,
    kind              TEXT NOT NULL DEFAULT 'imagine'
                      CHECK (kind IN ('imagine', 'reroll', 'variation', 'upscale')),
    parent_image_id   BIGINT,                          -- the image a variation/upscale started from
    -- the Discord interaction whose message shows progress and the result
    application_id    BIGINT,
    interaction_token TEXT,
    token_expires_at  TIMESTAMPTZ,
    -- every generation parameter, as columns for queries and as the exact message that was published
    model             TEXT NOT NULL,
    prompt            TEXT NOT NULL,
    negative_prompt   TEXT NOT NULL DEFAULT '',
    width             INTEGER NOT NULL,
    height            INTEGER NOT NULL,
    steps             INTEGER NOT NULL,
    cfg               DOUBLE PRECISION NOT NULL,
    sampler           TEXT NOT NULL,
    seed              BIGINT NOT NULL,
    image_count       INTEGER NOT NULL CHECK (image_count BETWEEN 1 AND 16),
    clip_skip         INTEGER NOT NULL DEFAULT 1,
    strength          DOUBLE PRECISION,
    request           JSONB NOT NULL,
    published_at      TIMESTAMPTZ,                       -- when the broker confirmed the job (outbox)
    -- state machine: queued -> running -> succeeded | failed | cancelled
    state             TEXT NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    quota_charged     INTEGER NOT NULL CHECK (quota_charged >= 0),  -- images charged; refunded on failure
    charged_on        DATE NOT NULL,                     -- the quota day it was charged to
    attempts          INTEGER NOT NULL DEFAULT 0,
    worker_id         TEXT,
    error             TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ,
    delivered_at      TIMESTAMPTZ,                       -- when the user was shown the outcome on Discord
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT finished_iff_terminal
        CHECK ((state IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL))
);
CREATE INDEX jobs_by_user ON jobs (user_id, created_at DESC);
CREATE INDEX jobs_active ON jobs (model, created_at) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_unpublished ON jobs (created_at) WHERE state = 'queued' AND published_at IS NULL;
CREATE INDEX jobs_undelivered ON jobs (finished_at) WHERE finished_at IS NOT NULL AND delivered_at IS NULL;

CREATE TABLE images (
    id             BIGSERIAL PRIMARY KEY,
    job_id         UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    image_index    INTEGER NOT NULL CHECK (image_index >= 0),
    seed           BIGINT NOT NULL,
    width          INTEGER NOT NULL,
    height         INTEGER NOT NULL,
    png            BYTEA NOT NULL,        -- with the generation settings in a 'parameters' tEXt chunk
    thumbnail      BYTEA NOT NULL,        -- small JPEG for the gallery
    parameters     TEXT NOT NULL,         -- the same settings as text, for display and search
    visible        BOOLEAN NOT NULL DEFAULT TRUE,  -- false once the author or an admin hides it
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (job_id, image_index)          -- a redelivered result stores nothing twice
);
CREATE INDEX images_recent_visible ON images (created_at DESC, id DESC) WHERE visible;

ALTER TABLE jobs ADD CONSTRAINT jobs_parent_image FOREIGN KEY (parent_image_id) REFERENCES images (id) ON DELETE SET NULL;
