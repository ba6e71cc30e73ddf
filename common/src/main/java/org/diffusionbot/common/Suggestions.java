package org.diffusionbot.common;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/** "Did you mean": the known names closest to a mistyped one, for refusal messages. */
public final class Suggestions {
    private Suggestions() {}

    /**
     * The names closest to {@code query}: those containing it or contained in it, then those within
     * an edit distance of a third of the longer name (at least 2), nearest first, case-insensitive.
     *
     * @param query what the user wrote
     * @param names the known names
     * @param max how many to return at most
     * @return up to {@code max} names, best first (empty when none is close)
     */
    public static List<String> closest(String query, Collection<String> names, int max) {
        String q = query.toLowerCase(Locale.ROOT);
        return names.stream()
                .map(n -> new Scored(n, score(q, n.toLowerCase(Locale.ROOT))))
                .filter(s -> s.score() >= 0)
                .sorted(Comparator.comparingInt(Scored::score).thenComparing(Scored::name))
                .limit(max)
                .map(Scored::name)
                .toList();
    }

    private record Scored(String name, int score) {}

    /** 0 for containment, else the edit distance when close enough, else −1. */
    private static int score(String q, String n) {
        if (!q.isEmpty() && (n.contains(q) || q.contains(n))) {
            return 0;
        }
        int d = distance(q, n);
        return d <= Math.max(2, Math.max(q.length(), n.length()) / 3) ? d : -1;
    }

    /** Levenshtein distance. */
    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int sub = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                cur[j] = Math.min(sub, Math.min(prev[j] + 1, cur[j - 1] + 1));
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
