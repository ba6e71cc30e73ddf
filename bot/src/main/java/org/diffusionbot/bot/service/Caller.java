package org.diffusionbot.bot.service;

import java.util.List;

/**
 * Who asked, as Discord said in that very interaction (read by the Discord adapter on every call, nothing cached).
 *
 * @param guildId null in direct messages
 * @param roleIds the member's role ids in that guild (empty in direct messages)
 * @param admin   the member has Manage Server (or Administrator) or one of the configured admin roles
 */
public record Caller(long userId, String userName, Long guildId, List<Long> roleIds, boolean admin) {
    public Caller {
        roleIds = List.copyOf(roleIds);
    }
}
