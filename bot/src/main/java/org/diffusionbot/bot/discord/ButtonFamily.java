package org.diffusionbot.bot.discord;

import java.util.Set;
import net.dv8tion.jda.api.events.interaction.component.ButtonInteractionEvent;

/** The buttons of one or more {@link ButtonIds} actions; acknowledges every press at once, as slash commands do. */
interface ButtonFamily {
    /** The {@link ButtonIds} actions this family handles. */
    Set<String> actions();

    void handle(ButtonInteractionEvent event, ButtonIds.Parsed button);
}
