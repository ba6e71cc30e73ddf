package org.diffusionbot.bot.fakediscord;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * An application command the bot registered; {@code guildId} is null for global commands. {@code json} is what the
 * fake returned (the bot's JSON plus id, application_id, version, guild_id).
 */
public record RegisteredCommand(String id, String name, int type, String guildId, JsonNode json) {

    public JsonNode options() {
        return json.path("options");
    }

    /** The registered option with this name (top level or inside subcommands), or a missing node. */
    public JsonNode option(String optionName) {
        return find(json.path("options"), optionName);
    }

    private static JsonNode find(JsonNode options, String optionName) {
        for (JsonNode o : options) {
            if (optionName.equals(o.path("name").asText())) {
                return o;
            }
            JsonNode nested = find(o.path("options"), optionName);
            if (!nested.isMissingNode()) {
                return nested;
            }
        }
        return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
    }
}
