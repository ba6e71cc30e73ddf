package org.diffusionbot.bot.fakediscord;

import java.time.Instant;

/** One REST call the fake answered: method, path below the API base, status returned, when. */
public record RecordedRequest(String method, String path, String query, int status, Instant at) {
    @Override
    public String toString() {
        return method + " " + path + (query == null ? "" : "?" + query) + " -> " + status;
    }
}
