package org.diffusionbot.db;

/**
 * The server's default allowance; a user's row in {@code quotas} may override either value.
 *
 * @param dailyImages images per user per UTC day
 * @param maxActive   jobs one user may have queued or running at once
 */
public record QuotaPolicy(int dailyImages, int maxActive) {
    public QuotaPolicy {
        if (dailyImages < 0 || maxActive < 1) {
            throw new IllegalArgumentException("dailyImages must be >= 0 and maxActive >= 1");
        }
    }
}
