-- A user's default clip skip (/settings clip_skip:, used when /imagine leaves it out; Automatic1111's "Clip skip",
-- 2 for many anime SD 1.5 finetunes); NULL means the bot's default (1: CLIP's last layer). The bounds are
-- GenerationLimits.MIN_CLIP_SKIP and MAX_CLIP_SKIP.
ALTER TABLE user_settings ADD COLUMN clip_skip INTEGER CHECK (clip_skip BETWEEN 1 AND 12);
