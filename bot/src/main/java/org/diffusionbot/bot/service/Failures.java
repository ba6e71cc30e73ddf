package org.diffusionbot.bot.service;

import org.diffusionbot.db.DatabaseUnavailableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place that turns a failure of ours (the database, a bug) into what the user is told, and logs it: an
 * unreachable database is worth a retry; anything else (a constraint violation included) is "something went wrong".
 */
public final class Failures {
    private static final Logger LOG = LoggerFactory.getLogger(Failures.class);

    private Failures() {
    }

    /**
     * Logs the failure of {@code what} and returns the sentence for the user (lower case, no emoji: the reply adds
     * them).
     *
     * @param submission the request would have charged the user: the sentence says that nothing was charged
     */
    public static String forUser(String what, RuntimeException e, boolean submission) {
        String charged = submission ? "; nothing was charged" : "";
        if (e instanceof DatabaseUnavailableException) {
            LOG.error("{} failed: {}", what, e.getMessage());
            return "the job database is unavailable right now" + charged + ". Please try again in a minute.";
        }
        LOG.error("{} failed", what, e);
        return "something went wrong on our side" + charged + ".";
    }
}
