package org.diffusionbot.bot;

import java.time.Clock;
import java.util.concurrent.CountDownLatch;
import net.dv8tion.jda.api.exceptions.InvalidTokenException;
import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;
import org.diffusionbot.db.DatabaseUnavailableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Entry point of {@code bot.jar}: validates the configuration, then runs the bot until SIGTERM. */
public final class BotMain {
    private static final Logger LOG = LoggerFactory.getLogger(BotMain.class);

    private BotMain() {
    }

    public static void main(String[] args) throws Exception {
        BotConfig config;
        try {
            config = BotConfig.fromEnv(Env.system());
        } catch (ConfigException e) {
            System.err.println("bot: " + e.getMessage());
            System.exit(2);
            return;
        }
        LOG.info("starting with {}", config);
        Bot bot;
        try {
            bot = Bot.start(config, Clock.systemUTC());
        } catch (DatabaseUnavailableException e) {
            System.err.println("bot: " + e.getMessage());
            System.exit(1);
            return;
        } catch (InvalidTokenException e) {
            System.err.println("bot: Discord refused DISCORD_TOKEN; copy the token again from the developer portal");
            System.exit(2);
            return;
        } catch (java.io.IOException | java.util.concurrent.TimeoutException e) {
            System.err.println("bot: cannot connect to RabbitMQ (" + config.rabbit() + "): " + e.getMessage());
            System.exit(1);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            LOG.info("stopping");
            try {
                bot.close();
            } catch (Exception e) {
                LOG.warn("shutdown: {}", e.getMessage());
            }
            stopped.countDown();
        }, "bot-shutdown"));
        stopped.await();
    }
}
