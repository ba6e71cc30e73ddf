package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;

/** Statement helpers shared by the stores. */
final class Sql {
    private Sql() {
    }

    /** Records a Discord user (or their new name); a no-op when nothing changed. */
    static void upsertUser(Connection c, long userId, String name) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("""
                INSERT INTO users (id, name) VALUES (?, ?)
                ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
                 WHERE users.name IS DISTINCT FROM EXCLUDED.name""")) {
            ps.setLong(1, userId);
            ps.setString(2, name);
            ps.executeUpdate();
        }
    }

    static void setNullableInt(PreparedStatement ps, int i, Integer v) throws SQLException {
        if (v == null) {
            ps.setNull(i, Types.INTEGER);
        } else {
            ps.setInt(i, v);
        }
    }

    static void setNullableLong(PreparedStatement ps, int i, Long v) throws SQLException {
        if (v == null) {
            ps.setNull(i, Types.BIGINT);
        } else {
            ps.setLong(i, v);
        }
    }
}
