package org.diffusionbot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.flywaydb.core.api.output.MigrateResult;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Flyway migrations on the real PostgreSQL server, from an empty database. */
class MigrationsIT {
    static TestDatabase testDb;
    static Database db;

    @BeforeAll
    static void migrateEmptyDatabase() throws SQLException {
        testDb = TestDatabase.create();
        db = Database.start(testDb.settings());
    }

    @AfterAll
    static void drop() throws SQLException {
        db.close();
        testDb.close();
    }

    @Test
    void createsEveryTable() throws SQLException {
        List<String> tables = new ArrayList<>();
        try (Connection c = db.dataSource().getConnection();
                ResultSet rs = c.getMetaData().getTables(null, "public", "%", new String[] {"TABLE"})) {
            while (rs.next()) {
                tables.add(rs.getString("TABLE_NAME"));
            }
        }
        assertTrue(tables.containsAll(List.of("users", "quotas", "jobs", "images", "flyway_schema_history")), tables.toString());
    }

    @Test
    void secondRunIsANoOp() {
        MigrateResult again = Database.migrate(db.dataSource());
        assertEquals(0, again.migrationsExecuted);
        assertTrue(again.success);
    }

    @Test
    void stateMachineAndTimestampsAreEnforcedByTheSchema() throws SQLException {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO users (id, name) VALUES (1, 'ann')");
            UUID id = UUID.randomUUID();
            insertJob(c, id, "queued", false);
            SQLException bad = assertThrows(SQLException.class, () -> insertJob(c, UUID.randomUUID(), "exploded", false));
            assertEquals("23514", bad.getSQLState(), "check_violation");
            bad = assertThrows(SQLException.class, () -> insertJob(c, UUID.randomUUID(), "succeeded", false));
            assertEquals("23514", bad.getSQLState(), "a finished job needs finished_at");
            insertJob(c, UUID.randomUUID(), "succeeded", true);
        }
    }

    @Test
    void quotaCountersCannotGoNegative() throws SQLException {
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO users (id, name) VALUES (2, 'bob')");
            s.execute("INSERT INTO quotas (user_id, period_day) VALUES (2, current_date)");
            SQLException bad = assertThrows(SQLException.class,
                    () -> s.execute("UPDATE quotas SET active_jobs = active_jobs - 1 WHERE user_id = 2"));
            assertEquals("23514", bad.getSQLState());
        }
    }

    @Test
    void unreachableServerGivesOneClearLine() {
        DatabaseUnavailableException e = assertThrows(DatabaseUnavailableException.class,
                () -> Database.start(new DbSettings("jdbc:postgresql://127.0.0.1:1/nothing", "x", "", 2)));
        assertTrue(e.getMessage().startsWith("cannot connect to PostgreSQL at jdbc:postgresql://127.0.0.1:1/nothing"),
                e.getMessage());
    }

    private static void insertJob(Connection c, UUID id, String state, boolean finished) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO jobs (id, user_id, channel_id, model, prompt, width, height, steps, cfg, sampler, seed,
                                  image_count, request, state, quota_charged, charged_on, finished_at)
                VALUES (?, 1, 10, 'm', 'p', 512, 512, 30, 7, 'euler', 1, 1, '{}'::jsonb, ?, 1, current_date, ?)""")) {
            ps.setObject(1, id);
            ps.setString(2, state);
            ps.setObject(3, finished ? java.time.OffsetDateTime.now() : null);
            ps.executeUpdate();
        }
    }
}
