package org.diffusionbot.bot.discord;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import net.dv8tion.jda.api.Permission;
import net.dv8tion.jda.api.entities.Member;
import net.dv8tion.jda.api.events.interaction.GenericInteractionCreateEvent;
import net.dv8tion.jda.api.utils.data.DataArray;
import net.dv8tion.jda.api.utils.data.DataObject;
import org.diffusionbot.bot.service.Caller;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who sent an interaction, as Discord says in that very interaction: their role ids and their permissions in the
 * channel ({@code member.permissions}, computed by Discord with every role and channel overwrite). Read on every
 * call, so a revoked role or permission counts at once; nothing is cached. The bot runs without the members intent,
 * so guilds are detached in JDA and roles come from the interaction's raw payload (event passthrough).
 */
final class Callers {
    private static final Logger LOG = LoggerFactory.getLogger(Callers.class);

    private Callers() {
    }

    /** {@link Caller#admin()}: Manage Server (or Administrator), or one of {@code adminRoleIds}. */
    static Caller of(GenericInteractionCreateEvent event, Set<Long> adminRoleIds) {
        Long guildId = event.getGuild() == null ? null : event.getGuild().getIdLong();
        List<Long> roles = new ArrayList<>();
        Long rawPermissions = null;
        DataObject raw = event.getRawData();
        if (guildId != null && raw != null) {
            DataObject d = raw.optObject("d").orElse(raw);
            DataObject member = d.optObject("member").orElse(null);
            if (member != null) {
                DataArray r = member.optArray("roles").orElse(DataArray.empty());
                for (int i = 0; i < r.length(); i++) {
                    try {
                        roles.add(Long.parseUnsignedLong(r.getString(i)));
                    } catch (NumberFormatException e) {
                        LOG.debug("unreadable role id in an interaction at {}", i);
                    }
                }
                String p = member.getString("permissions", null);
                if (p != null) {
                    try {
                        rawPermissions = Long.parseUnsignedLong(p);
                    } catch (NumberFormatException e) {
                        LOG.debug("unreadable member permissions in an interaction: {}", p);
                    }
                }
            }
        }
        boolean manage;
        if (guildId == null) {
            manage = false;
        } else if (rawPermissions != null) {
            manage = (rawPermissions & (Permission.MANAGE_SERVER.getRawValue() | Permission.ADMINISTRATOR.getRawValue()))
                    != 0;
        } else {
            Member m = event.getMember();
            manage = m != null && event.getGuildChannel() != null
                    && m.hasPermission(event.getGuildChannel(), Permission.MANAGE_SERVER);
        }
        boolean byRole = roles.stream().anyMatch(adminRoleIds::contains);
        return new Caller(event.getUser().getIdLong(), event.getUser().getName(), guildId, roles, manage || byRole);
    }
}
