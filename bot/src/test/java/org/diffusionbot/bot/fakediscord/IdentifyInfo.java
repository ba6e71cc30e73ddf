package org.diffusionbot.bot.fakediscord;

import com.fasterxml.jackson.databind.JsonNode;

/** What a client sent in a gateway IDENTIFY (op 2), plus the query string of its websocket URL. */
public record IdentifyInfo(String token, long intents, String gatewayQuery, JsonNode raw) {

    public boolean hasIntent(long bit) {
        return (intents & bit) == bit;
    }
}
