package org.diffusionbot.bot.fakediscord;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/**
 * An interaction callback ({@code POST /interactions/{id}/{token}/callback}) the fake accepted: its type (4 message, 5
 * deferred message, 6 deferred update, 7 update message, 8 autocomplete result, 9 modal), the flags and content of its
 * {@code data}, uploaded files, and how long after the INTERACTION_CREATE was written to the gateway it arrived.
 */
public record RecordedCallback(int type, int flags, String content, JsonNode data,
        List<RecordedAttachment> attachments, Duration latency, Instant at) {
    public static final int CHANNEL_MESSAGE_WITH_SOURCE = 4;
    public static final int DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5;
    public static final int DEFERRED_UPDATE_MESSAGE = 6;
    public static final int UPDATE_MESSAGE = 7;
    public static final int APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8;
    public static final int MODAL = 9;

    public boolean isEphemeral() {
        return (flags & RecordedMessage.FLAG_EPHEMERAL) != 0;
    }
}
