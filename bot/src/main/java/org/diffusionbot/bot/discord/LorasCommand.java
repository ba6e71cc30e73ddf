package org.diffusionbot.bot.discord;

import java.util.concurrent.Executor;
import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;
import net.dv8tion.jda.api.interactions.commands.OptionMapping;
import org.diffusionbot.bot.service.LoraService;

/** {@code /loras [search] [family]}: the LoRAs and embeddings live workers announce (ephemeral). */
final class LorasCommand implements SlashCommand {
    private final LoraService loras;
    private final Executor executor;

    LorasCommand(LoraService loras, Executor executor) {
        this.loras = loras;
        this.executor = executor;
    }

    @Override
    public String name() {
        return Commands.LORAS;
    }

    @Override
    public void handle(SlashCommandInteractionEvent event) {
        OptionMapping s = event.getOption("search");
        OptionMapping f = event.getOption("family");
        String search = s == null ? null : s.getAsString();
        String family = f == null ? null : f.getAsString();
        Replies.ephemeral(event, "/loras", executor, () -> JobMessages.loras(loras.list(search, family), search, family));
    }
}
