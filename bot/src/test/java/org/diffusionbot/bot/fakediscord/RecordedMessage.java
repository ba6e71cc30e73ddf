package org.diffusionbot.bot.fakediscord;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A snapshot of a message as it stood right after one bot operation (create, edit), plus the raw payload the bot
 * sent for that operation. {@code embeds} and {@code components} are Discord JSON.
 */
public record RecordedMessage(
        Kind kind,
        String id,
        String channelId,
        String content,
        List<JsonNode> embeds,
        JsonNode components,
        List<RecordedAttachment> attachments,
        int flags,
        JsonNode payload,
        Instant at) {

    /** How the message was produced. */
    public enum Kind {
        /** {@code POST /channels/{id}/messages}. */
        CHANNEL_MESSAGE,
        /** {@code PATCH /channels/{id}/messages/{mid}}. */
        CHANNEL_EDIT,
        /** Message created by an interaction callback (type 4 or the loading message of type 5). */
        INTERACTION_RESPONSE,
        /** {@code PATCH /webhooks/{app}/{token}/messages/@original}, or a type 7 UPDATE_MESSAGE callback. */
        ORIGINAL_EDIT,
        /** {@code POST /webhooks/{app}/{token}}. */
        FOLLOWUP,
        /** {@code PATCH /webhooks/{app}/{token}/messages/{id}} for a followup. */
        FOLLOWUP_EDIT,
        /** The current state of a message ({@link FakeDiscord#message(String)}, {@link FakeDiscord#original}). */
        CURRENT
    }

    public static final int FLAG_EPHEMERAL = 64;
    public static final int FLAG_LOADING = 128;

    public boolean isEphemeral() {
        return (flags & FLAG_EPHEMERAL) != 0;
    }

    public Optional<RecordedAttachment> attachment(String filename) {
        return attachments.stream().filter(a -> a.filename().equals(filename)).findFirst();
    }

    /** All {@code custom_id}s of buttons/selects in the components, depth-first. */
    public List<String> customIds() {
        List<String> ids = new ArrayList<>();
        collect(components, "custom_id", ids);
        return ids;
    }

    /** All button labels in the components, depth-first. */
    public List<String> buttonLabels() {
        List<String> labels = new ArrayList<>();
        collectButtons(components, labels);
        return labels;
    }

    private static void collect(JsonNode node, String field, List<String> out) {
        if (node == null) {
            return;
        }
        if (node.isArray()) {
            node.forEach(n -> collect(n, field, out));
        } else if (node.isObject()) {
            if (node.hasNonNull(field)) {
                out.add(node.get(field).asText());
            }
            node.forEach(n -> collect(n, field, out));
        }
    }

    private static void collectButtons(JsonNode node, List<String> out) {
        if (node == null) {
            return;
        }
        if (node.isArray()) {
            node.forEach(n -> collectButtons(n, out));
        } else if (node.isObject()) {
            if (node.path("type").asInt() == 2 && node.hasNonNull("label")) {
                out.add(node.get("label").asText());
            }
            node.forEach(n -> collectButtons(n, out));
        }
    }

    @Override
    public String toString() {
        return "RecordedMessage[" + kind + " id=" + id + " channel=" + channelId + " flags=" + flags + " content="
                + (content == null ? null : '"' + content + '"') + " embeds=" + embeds.size() + " attachments="
                + attachments + " customIds=" + customIds() + "]";
    }
}
