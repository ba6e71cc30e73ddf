package org.diffusionbot.db;

import java.util.UUID;

/** The outcome of {@link JobStore#submit}: the job was recorded and charged, or refused with nothing written. */
public sealed interface Submission {
    record Accepted(UUID jobId, QuotaStatus quota) implements Submission {
    }

    record Refused(Reason reason, String message) implements Submission {
    }

    enum Reason { BANNED, DAILY_LIMIT, ACTIVE_LIMIT }
}
