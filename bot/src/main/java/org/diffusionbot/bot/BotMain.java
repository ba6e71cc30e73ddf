package org.diffusionbot.bot;

/** Entry point of {@code bot.jar}. */
public final class BotMain {
    private BotMain() {
    }

    public static void main(String[] args) {
        System.err.println("bot: not configured");
        System.exit(2);
    }
}
