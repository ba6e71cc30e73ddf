package org.diffusionbot.bot.fakediscord;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A small multipart/form-data parser (RFC 7578), enough for what OkHttp sends on behalf of JDA. */
final class Multipart {
    record Part(String name, String filename, String contentType, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private Multipart() {
    }

    static String boundary(String contentType) {
        for (String param : contentType.split(";")) {
            String p = param.trim();
            if (p.toLowerCase(Locale.ROOT).startsWith("boundary=")) {
                String b = p.substring("boundary=".length());
                return b.startsWith("\"") ? b.substring(1, b.length() - 1) : b;
            }
        }
        throw new IllegalArgumentException("multipart without boundary: " + contentType);
    }

    static List<Part> parse(byte[] body, String boundary) {
        byte[] delimiter = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
        List<Part> parts = new ArrayList<>();
        int pos = indexOf(body, delimiter, 0);
        if (pos < 0) {
            throw new IllegalArgumentException("multipart body without the boundary");
        }
        while (true) {
            int afterDelim = pos + delimiter.length;
            if (afterDelim + 1 < body.length && body[afterDelim] == '-' && body[afterDelim + 1] == '-') {
                return parts; // closing delimiter
            }
            int headersStart = afterDelim + 2; // CRLF
            int headersEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), headersStart);
            if (headersEnd < 0) {
                throw new IllegalArgumentException("multipart part without header end");
            }
            Map<String, String> headers = new LinkedHashMap<>();
            String headerBlock = new String(body, headersStart, headersEnd - headersStart, StandardCharsets.UTF_8);
            for (String line : headerBlock.split("\r\n")) {
                int colon = line.indexOf(':');
                if (colon > 0) {
                    headers.put(line.substring(0, colon).trim().toLowerCase(Locale.ROOT), line.substring(colon + 1).trim());
                }
            }
            int contentStart = headersEnd + 4;
            byte[] next = ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
            int contentEnd = indexOf(body, next, contentStart);
            if (contentEnd < 0) {
                throw new IllegalArgumentException("unterminated multipart part");
            }
            byte[] content = new byte[contentEnd - contentStart];
            System.arraycopy(body, contentStart, content, 0, content.length);
            String disposition = headers.getOrDefault("content-disposition", "");
            parts.add(new Part(param(disposition, "name"), param(disposition, "filename"),
                    headers.get("content-type"), content));
            pos = contentEnd + 2;
        }
    }

    private static String param(String disposition, String key) {
        for (String p : disposition.split(";")) {
            String t = p.trim();
            if (t.startsWith(key + "=")) {
                String v = t.substring(key.length() + 1);
                return v.startsWith("\"") && v.endsWith("\"") ? v.substring(1, v.length() - 1) : v;
            }
        }
        return null;
    }

    private static int indexOf(byte[] haystack, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
