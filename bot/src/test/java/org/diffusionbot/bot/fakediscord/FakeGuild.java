package org.diffusionbot.bot.fakediscord;

/**
 * The fake's guild: @everyone (id = guild id), an "Admin" role granting Manage Server, and the bot's managed role.
 */
public record FakeGuild(String id, String name, String ownerId, String everyoneRoleId, String adminRoleId,
        String botRoleId) {

    public long idLong() {
        return Long.parseUnsignedLong(id);
    }
}
