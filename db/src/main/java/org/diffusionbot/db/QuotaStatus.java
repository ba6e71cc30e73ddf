package org.diffusionbot.db;

import java.time.Instant;

/** A user's allowance as it stands: what {@code /quota} shows. */
public record QuotaStatus(int usedToday, int dailyLimit, int activeJobs, int maxActive, Instant resetsAt) {
    public int remainingToday() {
        return Math.max(0, dailyLimit - usedToday);
    }
}
