package org.diffusionbot.db;

import java.util.Locale;

/** The job state machine: queued → running → succeeded | failed | cancelled. */
public enum JobState {
    QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED;

    public boolean terminal() {
        return this == SUCCEEDED || this == FAILED || this == CANCELLED;
    }

    public String sql() {
        return name().toLowerCase(Locale.ROOT);
    }

    static JobState ofSql(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
