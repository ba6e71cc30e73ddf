-- The sampler's noise schedule (worker --schedule, /imagine schedule:, /settings schedule:):
-- 'default' (the sampler's own), 'karras', 'exponential' or 'trailing' (A1111's "SGM Uniform").
-- jobs: NULL for jobs made before this migration, which ran the default.
-- user_settings: NULL means no preference (the model's recommendation, then the sampler's own).
ALTER TABLE jobs
    ADD COLUMN schedule TEXT CHECK (schedule IN ('default', 'karras', 'exponential', 'trailing'));
ALTER TABLE user_settings
    ADD COLUMN schedule TEXT CHECK (schedule IN ('default', 'karras', 'exponential', 'trailing'));
