package org.diffusionbot.bot.discord;

import net.dv8tion.jda.api.events.interaction.command.SlashCommandInteractionEvent;

/**
 * One slash command. {@link #handle} runs on JDA's event thread: it checks the options without I/O, answers a bad
 * value at once, defers, and leaves database and broker work to the bot's executor ({@link Replies}).
 */
interface SlashCommand {
    /** The command's name, as registered in {@link Commands}. */
    String name();

    void handle(SlashCommandInteractionEvent event);
}
