-- Per-user defaults (/settings), per-server settings and role quotas (/admin), and the pause switch.

-- A user's defaults for /imagine; NULL means "the bot's default". gallery_public stays on users.
CREATE TABLE user_settings (
    user_id          BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sampler          TEXT,
    steps            INTEGER CHECK (steps BETWEEN 1 AND 150),
    cfg              DOUBLE PRECISION CHECK (cfg BETWEEN 0 AND 30),
    width            INTEGER CHECK (width BETWEEN 64 AND 2048),
    height           INTEGER CHECK (height BETWEEN 64 AND 2048),
    negative_prompt  TEXT CHECK (length(negative_prompt) <= 2000),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((width IS NULL) = (height IS NULL))
);

-- Settings of one Discord server.
CREATE TABLE guild_settings (
    guild_id          BIGINT PRIMARY KEY,
    default_negative  TEXT CHECK (length(default_negative) <= 2000),  -- used when neither the user nor /imagine gives one
    updated_by        BIGINT,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Quotas of members with a role; a member with several such roles gets the most generous one.
-- A per-user override (quotas.daily_limit / max_active) beats them; NULL means "the bot's default".
CREATE TABLE role_quotas (
    guild_id     BIGINT NOT NULL,
    role_id      BIGINT NOT NULL,
    daily_limit  INTEGER CHECK (daily_limit >= 0),
    max_active   INTEGER CHECK (max_active >= 1),
    updated_by   BIGINT,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, role_id)
);

-- One row: is the bot paused (/admin pause: new jobs refused, queued ones kept)?
CREATE TABLE bot_state (
    id          BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    paused      BOOLEAN NOT NULL DEFAULT FALSE,
    paused_by   BIGINT,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO bot_state (id, paused) VALUES (TRUE, FALSE);
