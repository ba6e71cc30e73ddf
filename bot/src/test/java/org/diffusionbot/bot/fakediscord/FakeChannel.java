package org.diffusionbot.bot.fakediscord;

/** A channel of the fake: a guild text channel (type 0) or a DM (type 1, {@code guildId} null). */
public record FakeChannel(String id, String guildId, String name, int type, int position) {

    public long idLong() {
        return Long.parseUnsignedLong(id);
    }

    public boolean isDm() {
        return type == 1;
    }
}
