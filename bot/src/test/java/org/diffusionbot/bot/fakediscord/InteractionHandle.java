package org.diffusionbot.bot.fakediscord;

import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;

/** An interaction the fake sent through the gateway; shortcuts into the fake's recordings for its token. */
public final class InteractionHandle {
    private final FakeDiscord fake;
    private final String id;
    private final String token;
    private final int type;
    private final String name;
    private final String channelId;
    private final FakeUser user;

    InteractionHandle(FakeDiscord fake, String id, String token, int type, String name, String channelId,
            FakeUser user) {
        this.fake = fake;
        this.id = id;
        this.token = token;
        this.type = type;
        this.name = name;
        this.channelId = channelId;
        this.user = user;
    }

    public String id() {
        return id;
    }

    public String token() {
        return token;
    }

    /** 2 APPLICATION_COMMAND, 3 MESSAGE_COMPONENT, 4 APPLICATION_COMMAND_AUTOCOMPLETE. */
    public int type() {
        return type;
    }

    /** Command name, or the custom_id of the clicked component. */
    public String name() {
        return name;
    }

    public String channelId() {
        return channelId;
    }

    public FakeUser user() {
        return user;
    }

    public RecordedCallback awaitCallback(Duration timeout) {
        return fake.awaitCallback(token, timeout);
    }

    public List<RecordedCallback> callbacks() {
        return fake.callbacks(token);
    }

    public RecordedMessage awaitOriginalEdit(Predicate<RecordedMessage> condition, Duration timeout) {
        return fake.awaitOriginalEdit(token, condition, timeout);
    }

    public List<RecordedMessage> originalEdits() {
        return fake.originalEdits(token);
    }

    public RecordedMessage awaitFollowup(Predicate<RecordedMessage> condition, Duration timeout) {
        return fake.awaitFollowup(token, condition, timeout);
    }

    public List<RecordedMessage> followups() {
        return fake.followups(token);
    }

    /** The @original response as it stands now (null before the callback). */
    public RecordedMessage original() {
        return fake.original(token);
    }

    public void expireToken() {
        fake.expireToken(token);
    }

    @Override
    public String toString() {
        return "Interaction[type=" + type + " name=" + name + " id=" + id + " token=" + token + "]";
    }
}
