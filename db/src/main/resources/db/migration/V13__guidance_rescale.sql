-- A user's default guidance_rescale φ (/settings guidance_rescale:, used when /imagine leaves it out; SDXL
-- v-prediction finetunes want about 0.7); NULL means the bot's default (0: plain classifier-free guidance).
ALTER TABLE user_settings ADD COLUMN guidance_rescale DOUBLE PRECISION CHECK (guidance_rescale BETWEEN 0 AND 1);
