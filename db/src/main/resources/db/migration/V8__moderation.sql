-- Moderation: per-server settings and blocked terms, the age-restricted flag of jobs, the safety check's
-- verdict on images, the flagged images admins review, and the audit log of moderation (docs/MODERATION.md).

-- Settings of one Discord server; no row = the defaults below.
CREATE TABLE moderation_settings (
    guild_id                BIGINT PRIMARY KEY,
    default_terms           BOOLEAN NOT NULL DEFAULT FALSE,   -- the bot's shipped list of blocked terms applies
    flagged_action          TEXT NOT NULL DEFAULT 'withhold'  -- a flagged image in an ordinary channel is
                            CHECK (flagged_action IN ('withhold', 'spoiler')),  -- not shown, or shown as a spoiler
    require_age_restricted  BOOLEAN NOT NULL DEFAULT FALSE,   -- /imagine only in age-restricted channels when
                                                              -- no worker runs the safety check
    updated_by              BIGINT,
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A server's own blocked words and patterns (BlockedTerm in the bot validates them).
CREATE TABLE blocked_terms (
    guild_id   BIGINT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('word', 'regex')),
    term       TEXT NOT NULL CHECK (length(term) BETWEEN 1 AND 200),
    added_by   BIGINT NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (guild_id, kind, term)
);

-- Was the job's channel age-restricted (Discord's NSFW channel flag)? Its images are then not checked
-- and never enter the gallery.
ALTER TABLE jobs ADD COLUMN age_restricted BOOLEAN NOT NULL DEFAULT FALSE;

-- The safety check's verdict on an image: 'unchecked' (age-restricted channel, or no checker ran),
-- 'passed' or 'flagged'. Only passed images of jobs outside age-restricted channels are stored visible.
ALTER TABLE images ADD COLUMN safety TEXT NOT NULL DEFAULT 'unchecked'
    CHECK (safety IN ('unchecked', 'passed', 'flagged'));

-- Images the safety check flagged, for admins; one row per image, written with the result.
CREATE TABLE flagged_images (
    job_id       UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    image_index  INTEGER NOT NULL CHECK (image_index >= 0),
    user_id      BIGINT NOT NULL,
    guild_id     BIGINT,
    score        REAL NOT NULL,          -- the checker's highest concept score (> 0 when flagged)
    action       TEXT NOT NULL CHECK (action IN ('withhold', 'spoiler')),  -- what the user was shown
    flagged_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, image_index)
);
CREATE INDEX flagged_images_by_guild ON flagged_images (guild_id, flagged_at DESC);

-- Who did what, when: admins' moderation actions and the prompts refused by blocked terms.
CREATE TABLE moderation_audit (
    id        BIGSERIAL PRIMARY KEY,
    guild_id  BIGINT,                  -- NULL in direct messages
    actor_id  BIGINT NOT NULL,         -- the admin, or the user whose prompt was refused
    action    TEXT NOT NULL CHECK (action IN ('block', 'unblock', 'setting', 'refusal', 'hide')),
    detail    TEXT NOT NULL CHECK (length(detail) <= 4000),
    at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX moderation_audit_by_guild ON moderation_audit (guild_id, at DESC, id DESC);
