package org.diffusionbot.bot.fakediscord;

import java.util.Arrays;

/** A file the bot uploaded, with the exact bytes decoded from the multipart body. */
public record RecordedAttachment(String id, String filename, String contentType, String description, byte[] bytes,
        String url) {

    public int size() {
        return bytes.length;
    }

    public boolean hasBytes(byte[] expected) {
        return Arrays.equals(bytes, expected);
    }

    @Override
    public String toString() {
        return "RecordedAttachment[id=" + id + ", filename=" + filename + ", contentType=" + contentType + ", size="
                + bytes.length + "]";
    }
}
