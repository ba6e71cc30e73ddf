package org.diffusionbot.db;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariPool;
import javax.sql.DataSource;
import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.FlywayException;
import org.flywaydb.core.api.output.MigrateResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bot's database: a HikariCP pool, migrated by Flyway to the newest schema before first use.
 */
public final class Database implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Database.class);

    private final HikariDataSource dataSource;

    private Database(HikariDataSource dataSource) {
        this.dataSource = dataSource;
    }

    /**
     * Connects and migrates. Fails with a {@link DatabaseUnavailableException} whose message says
     * which server could not be reached or which migration failed.
     */
    public static Database start(DbSettings settings) {
        HikariConfig config = new HikariConfig();
        config.setPoolName("diffusion-bot");
        config.setJdbcUrl(settings.url());
        config.setUsername(settings.user());
        config.setPassword(settings.password());
        config.setMaximumPoolSize(settings.poolSize());
        config.setConnectionTimeout(5_000);
        config.setValidationTimeout(2_000);
        config.setInitializationFailTimeout(10_000);
        config.addDataSourceProperty("ApplicationName", "diffusion-bot");
        config.addDataSourceProperty("reWriteBatchedInserts", "true");
        HikariDataSource ds;
        try {
            ds = new HikariDataSource(config);
        } catch (HikariPool.PoolInitializationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new DatabaseUnavailableException("cannot connect to PostgreSQL at " + settings.url() + " as "
                    + settings.user() + ": " + cause.getMessage());
        }
        try {
            migrate(ds);
        } catch (RuntimeException e) {
            ds.close();
            throw e;
        }
        return new Database(ds);
    }

    /** Applies pending migrations; a database already at the newest version is left untouched. */
    public static MigrateResult migrate(DataSource ds) {
        try {
            MigrateResult r = Flyway.configure()
                    .dataSource(ds)
                    .locations("classpath:db/migration")
                    .failOnMissingLocations(true)
                    .load()
                    .migrate();
            LOG.info("database schema at version {} ({} migration(s) applied)", r.targetSchemaVersion,
                    r.migrationsExecuted);
            return r;
        } catch (FlywayException e) {
            throw new DatabaseUnavailableException("database migration failed: " + e.getMessage(), e);
        }
    }

    public DataSource dataSource() {
        return dataSource;
    }

    @Override
    public void close() {
        dataSource.close();
    }
}
