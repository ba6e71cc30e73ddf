package org.diffusionbot.bot.fakediscord;

/** A Discord user known to the fake (see {@link FakeDiscord#createUser(String, boolean)}). */
public record FakeUser(String id, String username, String globalName, boolean bot) {

    public long idLong() {
        return Long.parseUnsignedLong(id);
    }

    /** The mention string Discord renders as a ping, {@code <@id>}. */
    public String mention() {
        return "<@" + id + ">";
    }
}
