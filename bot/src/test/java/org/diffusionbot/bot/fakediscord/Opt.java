package org.diffusionbot.bot.fakediscord;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * A slash command option value as Discord sends it in {@code data.options}: typed (string 3, integer 4, boolean 5,
 * user 6, number 10), or a subcommand (1) / subcommand group (2) holding nested options. {@link #focused()} marks the
 * option being typed in an autocomplete interaction.
 */
public record Opt(String name, int type, Object value, List<Opt> options, boolean focused) {
    public static final int SUB_COMMAND = 1;
    public static final int SUB_COMMAND_GROUP = 2;
    public static final int STRING = 3;
    public static final int INTEGER = 4;
    public static final int BOOLEAN = 5;
    public static final int USER = 6;
    public static final int NUMBER = 10;

    public static Opt string(String name, String value) {
        return new Opt(name, STRING, value, List.of(), false);
    }

    public static Opt integer(String name, long value) {
        return new Opt(name, INTEGER, value, List.of(), false);
    }

    public static Opt bool(String name, boolean value) {
        return new Opt(name, BOOLEAN, value, List.of(), false);
    }

    public static Opt number(String name, double value) {
        return new Opt(name, NUMBER, value, List.of(), false);
    }

    /** A user option; the fake adds the user (and member) to {@code data.resolved} like Discord. */
    public static Opt user(String name, FakeUser user) {
        return new Opt(name, USER, user, List.of(), false);
    }

    public static Opt sub(String name, Opt... options) {
        return new Opt(name, SUB_COMMAND, null, List.of(options), false);
    }

    public static Opt group(String name, Opt... subcommands) {
        return new Opt(name, SUB_COMMAND_GROUP, null, List.of(subcommands), false);
    }

    /** The option the user is typing in an autocomplete interaction (its partial value is always a string). */
    public static Opt focused(String name, int type, String partialValue) {
        return new Opt(name, type, partialValue, List.of(), true);
    }

    ObjectNode toJson() {
        ObjectNode o = Json.obj().put("name", name).put("type", type);
        if (type == SUB_COMMAND || type == SUB_COMMAND_GROUP) {
            var arr = o.putArray("options");
            options.forEach(sub -> arr.add(sub.toJson()));
            return o;
        }
        if (focused) {
            o.put("value", String.valueOf(value));
            o.put("focused", true);
        } else if (value instanceof FakeUser u) {
            o.put("value", u.id());
        } else if (value instanceof Long l) {
            o.put("value", l);
        } else if (value instanceof Double d) {
            o.put("value", d);
        } else if (value instanceof Boolean b) {
            o.put("value", b);
        } else {
            o.put("value", String.valueOf(value));
        }
        return o;
    }
}
