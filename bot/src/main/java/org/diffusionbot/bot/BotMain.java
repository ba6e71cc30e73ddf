package org.diffusionbot.bot;

import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.db.Database;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Entry point of {@code bot.jar}: validates the configuration, migrates the database, connects. */
public final class BotMain {
    private static final Logger LOG = LoggerFactory.getLogger(BotMain.class);

    private BotMain() {
    }

    public static void main(String[] args) {
        BotConfig config;
        try {
            config = BotConfig.fromEnv(Env.system());
        } catch (ConfigException e) {
            System.err.println("bot: " + e.getMessage());
            System.exit(2);
            return;
        }
        LOG.info("starting with {}", config);
        try (Database db = Database.start(config.db())) {
            LOG.info("database ready; the Discord gateway client is not wired up yet");
        } catch (DatabaseUnavailableException e) {
            System.err.println("bot: " + e.getMessage());
            System.exit(1);
        }
    }
}
