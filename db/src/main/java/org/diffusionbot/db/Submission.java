package org.diffusionbot.db;

import java.util.UUID;

/** The outcome of {@link JobStore#submit}: the job was recorded and charged, or refused with nothing written. */
public sealed interface Submission {
    /** @param position jobs of the same model queued ahead of it when it was recorded (0 = next) */
    record Accepted(UUID jobId, QuotaStatus quota, int position) implements Submission {
    }

    record Refused(Reason reason, String message) implements Submission {
    }

    enum Reason { BANNED, DAILY_LIMIT, ACTIVE_LIMIT }
}
