-- LoRAs (issue 14): how many LoRAs one prompt may name on a server (/admin loras max:N);
-- NULL means the bot's default (4), 0 turns LoRAs off on the server.
ALTER TABLE guild_settings ADD COLUMN max_loras INTEGER CHECK (max_loras BETWEEN 0 AND 20);
