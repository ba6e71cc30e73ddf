package org.diffusionbot.db;

import java.util.UUID;

/** The outcome of {@link JobStore#submit}: the job was recorded and charged, or refused with nothing written. */
public sealed interface Submission {
    /** Recorded and charged; its queue position is looked up when it is shown ({@link JobStore#queuePosition}). */
    record Accepted(UUID jobId, QuotaStatus quota) implements Submission {
    }

    record Refused(Reason reason, String message) implements Submission {
    }

    enum Reason { BANNED, DAILY_LIMIT, ACTIVE_LIMIT }
}
