package org.diffusionbot.bot.discord;

import java.util.Set;
import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import org.diffusionbot.bot.service.Caller;
import org.diffusionbot.bot.service.QuotaService;

/** {@code /quota}: what is left of the member's allowance under their policy, ephemeral. */
final class QuotaCommand implements SlashCommand {
    private final QuotaService quotas;
    private final Set<Long> adminRoleIds;
    private final Executor executor;

    QuotaCommand(QuotaService quotas, Set<Long> adminRoleIds, Executor executor) {
        this.quotas = quotas;
        this.adminRoleIds = adminRoleIds;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.QUOTA;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        Caller caller = Callers.of(event, adminRoleIds);
        Replies.ephemeral(event, "/quota", executor, () -> JobMessages.quota(quotas.status(caller)));
    }
}
