package org.diffusionbot.bot.web;

import java.util.List;
import org.diffusionbot.common.Text;
import java.util.Objects;

/**
 * A tiny HTML templating helper that is safe by construction: a template's {@code {}} holes take any
 * value, and every value is HTML-escaped (text and quoted-attribute safe) unless it is already a
 * {@link Fragment}, which only templates produce. So a prompt, a name or a URL can reach the page only
 * escaped; there is no way to pass a raw string through except {@link #trusted(String)}, used for
 * constant markup only.
 */
final class Html {
    private Html() {
    }

    /** Markup built by a template (or a constant): inserted as is. */
    record Fragment(String html) {
        Fragment {
            Objects.requireNonNull(html);
        }

        @Override
        public String toString() {
            return html;
        }
    }

    static final Fragment EMPTY = new Fragment("");

    /**
     * Fills the {@code {}} holes of {@code template} in order. Holes must be in text or inside a quoted
     * attribute value ({@code href="{}"}), never in a tag or attribute name or an unquoted value.
     */
    static Fragment t(String template, Object... args) {
        StringBuilder sb = new StringBuilder(template.length() + 64);
        int arg = 0;
        int from = 0;
        while (true) {
            int hole = template.indexOf("{}", from);
            if (hole < 0) {
                break;
            }
            if (arg >= args.length) {
                throw new IllegalArgumentException("template has more holes than arguments: " + template);
            }
            sb.append(template, from, hole);
            Object a = args[arg++];
            if (a instanceof Fragment f) {
                sb.append(f.html());
            } else {
                escapeInto(sb, a == null ? "" : a.toString());
            }
            from = hole + 2;
        }
        if (arg != args.length) {
            throw new IllegalArgumentException("template has fewer holes than arguments: " + template);
        }
        sb.append(template, from, template.length());
        return new Fragment(sb.toString());
    }

    static Fragment join(List<Fragment> parts) {
        StringBuilder sb = new StringBuilder();
        parts.forEach(p -> sb.append(p.html()));
        return new Fragment(sb.toString());
    }

    /** Constant markup written in this package's code, never data. */
    static Fragment trusted(String constantHtml) {
        return new Fragment(constantHtml);
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder(s.length() + 16);
        escapeInto(sb, s);
        return sb.toString();
    }

    private static void escapeInto(StringBuilder sb, String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> sb.append("&amp;");
                case '<' -> sb.append("&lt;");
                case '>' -> sb.append("&gt;");
                case '"' -> sb.append("&quot;");
                case '\'' -> sb.append("&#39;");
                case '`' -> sb.append("&#96;");
                case '\0' -> sb.append('\uFFFD');
                default -> sb.append(c);
            }
        }
    }

    /** At most {@code max} characters of {@code s}, cut between characters, with an ellipsis when cut. */
    static String shorten(String s, int max) {
        return Text.shorten(s, max);
    }
}
