package org.diffusionbot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.UUID;
import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;

/**
 * V15 (one clip skip numbering, 0 = the family's default): a database at V14 with jobs of clip skip 1 (none chosen,
 * or SD 1.x's last layer, or SDXL's old 1 = its penultimate layer: each family's default) and 2, and a user's saved
 * 2, migrated to the newest schema.
 */
class ClipSkipMigrationIT {
    @Test
    void oneBecomesTheFamilysDefaultInColumnAndRequestOthersAndSettingsStay() throws SQLException {
        try (TestDatabase t = TestDatabase.create()) {
            DbSettings s = t.settings();
            Flyway.configure().dataSource(s.url(), s.user(), s.password()).locations("classpath:db/migration")
                    .target("14").load().migrate();
            UUID one = UUID.randomUUID();
            UUID two = UUID.randomUUID();
            try (Connection c = DriverManager.getConnection(s.url(), s.user(), s.password());
                    Statement st = c.createStatement()) {
                st.execute("INSERT INTO users (id, name) VALUES (1, 'ann')");
                st.execute("INSERT INTO user_settings (user_id, clip_skip) VALUES (1, 2)");
                insertJob(c, one, 1);
                insertJob(c, two, 2);
            }
            try (Database db = Database.start(s); Connection c = db.dataSource().getConnection();
                    Statement st = c.createStatement()) {
                assertEquals("0 0", job(st, one));
                assertEquals("2 2", job(st, two), "an explicit clip skip keeps its number");
                try (ResultSet rs = st.executeQuery("SELECT clip_skip FROM user_settings WHERE user_id = 1")) {
                    rs.next();
                    assertEquals(2, rs.getInt(1), "a saved default keeps its number");
                }
                UUID fresh = UUID.randomUUID();
                st.execute("INSERT INTO jobs (id, user_id, channel_id, model, prompt, width, height, steps, cfg, sampler,"
                        + " seed, image_count, request, quota_charged, charged_on) VALUES ('" + fresh + "', 1, 10, 'm',"
                        + " 'p', 512, 512, 30, 7, 'euler', 1, 1, '{}'::jsonb, 1, current_date)");
                try (ResultSet rs = st.executeQuery("SELECT clip_skip FROM jobs WHERE id = '" + fresh + "'")) {
                    rs.next();
                    assertEquals(0, rs.getInt(1), "the column's default is none");
                }
                SQLException bad = assertThrows(SQLException.class,
                        () -> st.execute("UPDATE jobs SET clip_skip = 13 WHERE id = '" + fresh + "'"));
                assertEquals("23514", bad.getSQLState(), "check_violation");
            }
        }
    }

    private static void insertJob(Connection c, UUID id, int clipSkip) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO jobs (id, user_id, channel_id, model, prompt, width, height, steps, cfg, sampler, seed,
                                  image_count, clip_skip, request, quota_charged, charged_on)
                VALUES (?, 1, 10, 'm', 'p', 512, 512, 30, 7, 'euler', 1, 1, ?, ?::jsonb, 1, current_date)""")) {
            ps.setObject(1, id);
            ps.setInt(2, clipSkip);
            ps.setString(3, "{\"type\":\"job_request\",\"schema\":1,\"model\":\"m\",\"clip_skip\":" + clipSkip + "}");
            ps.executeUpdate();
        }
    }

    /** "column request.clip_skip" of a job. */
    private static String job(Statement st, UUID id) throws SQLException {
        try (ResultSet rs = st.executeQuery("SELECT clip_skip, request->>'clip_skip' FROM jobs WHERE id = '" + id + "'")) {
            rs.next();
            return rs.getInt(1) + " " + rs.getString(2);
        }
    }
}
