package org.diffusionbot.bot.discord;

import java.util.Optional;
import java.util.UUID;
import org.diffusionbot.common.GenerationLimits;

/**
 * Custom ids of the bot's buttons: {@code action:jobId} ({@code cancel}, {@code reroll}, {@code info},
 * {@code delete}) or {@code action:jobId:imageIndex} ({@code var}, {@code up}). At most 43 characters (Discord
 * allows 100). Parsed strictly: anything else is ignored. The ids carry no authority: every press is checked
 * against the database (the job exists, the image is visible, the presser may delete).
 */
final class ButtonIds {
    static final String CANCEL = "cancel";
    static final String REROLL = "reroll";
    static final String INFO = "info";
    static final String DELETE = "delete";
    static final String VARIATION = "var";
    static final String UPSCALE = "up";

    /** A parsed button id; {@code index} is -1 for job-wide actions. */
    record Parsed(String action, UUID jobId, int index) {
    }

    private ButtonIds() {
    }

    static String cancel(UUID jobId) {
        return CANCEL + ":" + jobId;
    }

    static String of(String action, UUID jobId) {
        return action + ":" + jobId;
    }

    static String of(String action, UUID jobId, int index) {
        return action + ":" + jobId + ":" + index;
    }

    /** The job id of a button of this action, or empty if the id is not one of ours. */
    static Optional<UUID> jobOf(String action, String customId) {
        return parse(customId).filter(p -> p.action().equals(action) && p.index() < 0).map(Parsed::jobId);
    }

    static Optional<Parsed> parse(String customId) {
        if (customId == null || customId.length() > 100) {
            return Optional.empty();
        }
        String[] parts = customId.split(":", -1);
        if (parts.length < 2 || parts.length > 3) {
            return Optional.empty();
        }
        String action = parts[0];
        boolean indexed = action.equals(VARIATION) || action.equals(UPSCALE);
        boolean plain = action.equals(CANCEL) || action.equals(REROLL) || action.equals(INFO) || action.equals(DELETE);
        if ((indexed && parts.length != 3) || (plain && parts.length != 2) || (!indexed && !plain)) {
            return Optional.empty();
        }
        try {
            UUID id = UUID.fromString(parts[1]);
            if (!id.toString().equals(parts[1].toLowerCase(java.util.Locale.ROOT))) {
                return Optional.empty();
            }
            int index = -1;
            if (indexed) {
                if (!parts[2].matches("[0-9]{1,2}")) {
                    return Optional.empty();
                }
                index = Integer.parseInt(parts[2]);
                if (index >= GenerationLimits.MAX_COUNT) {
                    return Optional.empty();
                }
            }
            return Optional.of(new Parsed(action, id, index));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
