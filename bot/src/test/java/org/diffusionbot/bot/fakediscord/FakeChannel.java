package org.diffusionbot.bot.fakediscord;

/**
 * A channel of the fake: a guild text channel (type 0) or a DM (type 1, {@code guildId} null).
 *
 * @param nsfw Discord's channel field {@code nsfw}: the channel is age-restricted (guild channels only; the API
 *     sends it with every guild channel object, in interactions too)
 */
public record FakeChannel(String id, String guildId, String name, int type, int position, boolean nsfw) {

    public long idLong() {
        return Long.parseUnsignedLong(id);
    }

    public boolean isDm() {
        return type == 1;
    }
}
