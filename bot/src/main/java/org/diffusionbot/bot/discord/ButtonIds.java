package org.diffusionbot.bot.discord;

import java.util.Optional;
import java.util.UUID;

/** Custom ids of the bot's buttons: {@code action:jobId}. Parsed strictly: anything else is ignored. */
final class ButtonIds {
    static final String CANCEL = "cancel";

    private ButtonIds() {
    }

    static String cancel(UUID jobId) {
        return CANCEL + ":" + jobId;
    }

    /** The job id of a button of this action, or empty if the id is not one of ours. */
    static Optional<UUID> jobOf(String action, String customId) {
        if (customId == null || !customId.startsWith(action + ":")) {
            return Optional.empty();
        }
        try {
            return Optional.of(UUID.fromString(customId.substring(action.length() + 1)));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
