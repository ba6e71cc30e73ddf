package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;

/** Discord users as the bot knows them: their name (kept current) and whether they are banned. */
public final class UserStore {
    private final Jdbc jdbc;

    public UserStore(DataSource ds) {
        this.jdbc = new Jdbc(ds);
    }

    /** Bans or unbans a user; returns whether that changed anything. */
    public boolean setBanned(long userId, String userName, boolean banned) {
        return jdbc.tx(c -> {
            upsert(c, userId, userName);
            return Jdbc.update(c, "UPDATE users SET banned = ?, updated_at = now() WHERE id = ? AND banned <> ?",
                    banned, userId, banned) == 1;
        });
    }

    public boolean banned(long userId) {
        return jdbc.one("SELECT banned FROM users WHERE id = ?", rs -> rs.getBoolean(1), userId).orElse(false);
    }

    private static final String UPSERT = """
            INSERT INTO users (id, name) VALUES (?, ?)
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
             WHERE users.name IS DISTINCT FROM EXCLUDED.name""";

    /** Records a Discord user (or their new name); a no-op when nothing changed. */
    static void upsert(Connection c, long userId, String name) throws SQLException {
        Jdbc.update(c, UPSERT, userId, name);
    }

    /** Records the user (or their new name) and says whether they are banned, in one statement. */
    static boolean upsertReturningBanned(Connection c, long userId, String name) throws SQLException {
        Boolean banned = Jdbc.one(c, "WITH up AS (" + UPSERT + """

                            RETURNING banned)
                SELECT banned FROM up
                UNION ALL
                SELECT banned FROM users WHERE id = ? AND NOT EXISTS (SELECT 1 FROM up)""",
                rs -> rs.getBoolean(1), userId, name, userId);
        return banned != null && banned;
    }
}
