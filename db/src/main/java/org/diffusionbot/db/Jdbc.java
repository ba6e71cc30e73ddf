package org.diffusionbot.db;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLNonTransientConnectionException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientConnectionException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * The stores' one way to run SQL (after db-scheduler's {@code JdbcRunner}): a unit of work in a transaction or in
 * autocommit, statements with positional parameters bound from plain values, rows read by a {@link RowMapper}.
 * Every {@link SQLException} leaves through {@link #failure}, which names what happened.
 *
 * <p>Parameters: {@code null}, {@link String}, the boxed numbers, {@link Boolean}, {@code byte[]}, {@link
 * java.util.UUID}, {@link java.time.LocalDate} (as the driver takes them), {@link Instant} (as a timestamp) and
 * {@link #array} (a PostgreSQL array).
 */
final class Jdbc {
    /** Work on one connection. */
    interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /** Reads the current row. */
    interface RowMapper<T> {
        T map(ResultSet rs) throws SQLException;
    }

    /** A PostgreSQL array parameter of element type {@code type} ({@code "uuid"}, {@code "bigint"}). */
    record SqlArray(String type, Collection<?> values) {
    }

    private final DataSource ds;

    Jdbc(DataSource ds) {
        this.ds = ds;
    }

    static SqlArray array(String type, Collection<?> values) {
        return new SqlArray(type, values);
    }

    /** Runs {@code work} in one transaction (READ COMMITTED): committed on success, rolled back on any failure. */
    <T> T tx(Work<T> work) {
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
            throw failure(e);
        }
    }

    /** Runs {@code work} in autocommit: for one statement, which is atomic by itself (no COMMIT round trip). */
    <T> T auto(Work<T> work) {
        try (Connection c = ds.getConnection()) {
            return work.run(c);
        } catch (SQLException e) {
            throw failure(e);
        }
    }

    /** One statement's rows, in autocommit. */
    <T> List<T> list(String sql, RowMapper<T> mapper, Object... args) {
        return auto(c -> list(c, sql, mapper, args));
    }

    /** The first row of one statement, in autocommit. */
    <T> Optional<T> one(String sql, RowMapper<T> mapper, Object... args) {
        return Optional.ofNullable(auto(c -> one(c, sql, mapper, args)));
    }

    /** One data-changing statement in autocommit; the number of rows it changed. */
    int update(String sql, Object... args) {
        return auto(c -> update(c, sql, args));
    }

    static <T> List<T> list(Connection c, String sql, RowMapper<T> mapper, Object... args) throws SQLException {
        try (PreparedStatement ps = prepare(c, sql, args); ResultSet rs = ps.executeQuery()) {
            List<T> out = new ArrayList<>();
            while (rs.next()) {
                out.add(mapper.map(rs));
            }
            return out;
        }
    }

    /** The first row, or null when there is none. */
    static <T> T one(Connection c, String sql, RowMapper<T> mapper, Object... args) throws SQLException {
        try (PreparedStatement ps = prepare(c, sql, args); ResultSet rs = ps.executeQuery()) {
            return rs.next() ? mapper.map(rs) : null;
        }
    }

    static int update(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = prepare(c, sql, args)) {
            return ps.executeUpdate();
        }
    }

    /** One statement run for each parameter row, sent as one batch. */
    static void batch(Connection c, String sql, List<Object[]> rows) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (Object[] row : rows) {
                bind(c, ps, row);
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    private static PreparedStatement prepare(Connection c, String sql, Object... args) throws SQLException {
        PreparedStatement ps = c.prepareStatement(sql);
        try {
            bind(c, ps, args);
            return ps;
        } catch (SQLException | RuntimeException e) {
            ps.close();
            throw e;
        }
    }

    private static void bind(Connection c, PreparedStatement ps, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a instanceof Instant t) {
                ps.setTimestamp(i + 1, Timestamp.from(t));
            } else if (a instanceof SqlArray arr) {
                ps.setArray(i + 1, c.createArrayOf(arr.type(), arr.values().toArray()));
            } else {
                ps.setObject(i + 1, a);
            }
        }
    }

    /** A nullable timestamp column as an instant. */
    static Instant instant(ResultSet rs, String column) throws SQLException {
        Timestamp t = rs.getTimestamp(column);
        return t == null ? null : t.toInstant();
    }

    /**
     * The one mapping of driver failures to this module's exceptions, by SQLSTATE class: 08 (connection), 53
     * (insufficient resources), 57 (operator intervention: shutdown, cancel) and the pool's connection timeouts are
     * {@link DatabaseUnavailableException}; 23 (integrity constraint) is {@link ConstraintViolationException};
     * anything else {@link DatabaseException}.
     */
    static DatabaseException failure(SQLException e) {
        String state = e.getSQLState() == null ? "" : e.getSQLState();
        String message = "database error: " + e.getMessage();
        if (e instanceof SQLTransientConnectionException || e instanceof SQLNonTransientConnectionException
                || e instanceof SQLRecoverableException || state.startsWith("08") || state.startsWith("53")
                || state.startsWith("57")) {
            return new DatabaseUnavailableException(message, e);
        }
        if (state.startsWith("23")) {
            return new ConstraintViolationException(message, e);
        }
        return new DatabaseException(message, e);
    }
}
