package org.diffusionbot.db;

import org.diffusionbot.common.config.ConfigException;
import org.diffusionbot.common.config.Env;

/**
 * How the bot reaches PostgreSQL.
 *
 * @param url      {@code DATABASE_URL}, a {@code jdbc:postgresql://} URL
 * @param user     {@code DATABASE_USER}
 * @param password {@code DATABASE_PASSWORD}, may be empty (trust or peer authentication)
 * @param poolSize {@code DATABASE_POOL_SIZE}, connections in the HikariCP pool
 */
public record DbSettings(String url, String user, String password, int poolSize) {
    public static final String DEFAULT_URL = "jdbc:postgresql://127.0.0.1:5432/diffusionbot";

    public DbSettings {
        if (url == null || !url.startsWith("jdbc:postgresql://")) {
            throw new ConfigException("DATABASE_URL must start with jdbc:postgresql:// (got '" + url
                    + "'): set it like jdbc:postgresql://host:5432/diffusionbot");
        }
    }

    public static DbSettings fromEnv(Env env) {
        return new DbSettings(
                env.string("DATABASE_URL", DEFAULT_URL),
                env.string("DATABASE_USER", "postgres"),
                env.string("DATABASE_PASSWORD", ""),
                env.integer("DATABASE_POOL_SIZE", 10, 2, 200));
    }

    @Override
    public String toString() {
        return "DbSettings[" + url + ", user=" + user + ", poolSize=" + poolSize + "]";
    }
}
