package org.diffusionbot.bot.discord;

import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import org.diffusionbot.bot.service.JobViews;

/** {@code /jobs}: the user's ten latest jobs, ephemeral. */
final class JobsCommand implements SlashCommand {
    private final JobViews views;
    private final Executor executor;

    JobsCommand(JobViews views, Executor executor) {
        this.views = views;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.JOBS;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        long user = event.getUser().getIdLong();
        Replies.ephemeral(event, "/jobs", executor, () -> JobMessages.jobs(views.recent(user, 10)));
    }
}
