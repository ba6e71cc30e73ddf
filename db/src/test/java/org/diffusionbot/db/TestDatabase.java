package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.diffusionbot.common.config.Env;

/**
 * A throw-away database on the real PostgreSQL server, created empty for one test class and
 * dropped afterwards. The server is {@code TEST_POSTGRES_URL} (default the local one, user
 * {@code postgres}); shared with the bot's tests through db's test-jar.
 */
public final class TestDatabase implements AutoCloseable {
    private static final Env ENV = Env.system();
    private static final String SERVER = ENV.string("TEST_POSTGRES_URL", "jdbc:postgresql://127.0.0.1:5432/");
    private static final String USER = ENV.string("TEST_POSTGRES_USER", "postgres");
    private static final String PASSWORD = ENV.string("TEST_POSTGRES_PASSWORD", "");

    private final String name;

    private TestDatabase(String name) {
        this.name = name;
    }

    public static TestDatabase create() throws SQLException {
        String name = "sdbot_test_" + UUID.randomUUID().toString().replace("-", "").substring(0, 16);
        try (Connection c = DriverManager.getConnection(SERVER + "postgres", USER, PASSWORD);
                Statement s = c.createStatement()) {
            s.execute("CREATE DATABASE " + name);
        }
        return new TestDatabase(name);
    }

    public DbSettings settings() {
        return new DbSettings(SERVER + name, USER, PASSWORD, 10);
    }

    @Override
    public void close() throws SQLException {
        try (Connection c = DriverManager.getConnection(SERVER + "postgres", USER, PASSWORD);
                Statement s = c.createStatement()) {
            s.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
        }
    }
}
