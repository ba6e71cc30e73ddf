package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;

/** Runs a unit of work in one transaction (READ COMMITTED), committing on success, rolling back on any failure. */
final class Tx {
    interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    private Tx() {
    }

    /** A single read-only statement: no transaction of its own (autocommit), so no COMMIT round trip. */
    static <T> T read(DataSource ds, Work<T> work) {
        try (Connection c = ds.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            throw new DatabaseUnavailableException("database error: " + e.getMessage());
        }
    }

    static <T> T run(DataSource ds, Work<T> work) {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            try {
                T result = work.run(c);
                c.commit();
                return result;
            } catch (SQLException | RuntimeException e) {
                c.rollback();
                throw e;
            }
        } catch (SQLException e) {
            throw new DatabaseUnavailableException("database error: " + e.getMessage());
        }
    }
}
