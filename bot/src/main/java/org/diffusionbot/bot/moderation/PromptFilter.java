package org.diffusionbot.bot.moderation;

import com.google.re2j.Pattern;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * A server's blocked terms, ready to check prompts: each {@link BlockedTerm} is looked for in every
 * {@link PromptText#forms reading} of the prompt and of the negative prompt. Immutable and thread-safe;
 * build one per change of the list, not per prompt.
 */
public final class PromptFilter {
    /** Blocks nothing. */
    public static final PromptFilter NONE = new PromptFilter(List.of());

    /**
     * Why a prompt was refused.
     *
     * @param term the blocked term that matched, as {@link BlockedTerm#display()} writes it
     * @param field {@code "prompt"} or {@code "negative prompt"}
     */
    public record Refusal(String term, String field) {
    }

    private interface Rule {
        boolean foundIn(String folded);

        String display();
    }

    private final List<Rule> rules;

    private PromptFilter(List<Rule> rules) {
        this.rules = rules;
    }

    /**
     * @param terms the blocked terms (duplicates harmless)
     * @return a filter that refuses a prompt containing any of them
     */
    public static PromptFilter of(Collection<BlockedTerm> terms) {
        List<Rule> rules = new ArrayList<>(terms.size());
        for (BlockedTerm t : terms) {
            rules.add(t.kind() == BlockedTerm.Kind.REGEX ? regex(t) : word(t));
        }
        return new PromptFilter(List.copyOf(rules));
    }

    /** @return how many terms this filter checks */
    public int size() {
        return rules.size();
    }

    /**
     * Checks a prompt and its negative prompt, prompt first.
     *
     * @param prompt the prompt (null: empty)
     * @param negative the negative prompt (null: empty)
     * @return the first blocked term found, or empty when the prompt may run
     */
    public Optional<Refusal> check(String prompt, String negative) {
        Optional<String> hit = find(prompt);
        if (hit.isPresent()) {
            return Optional.of(new Refusal(hit.get(), "prompt"));
        }
        return find(negative).map(term -> new Refusal(term, "negative prompt"));
    }

    private Optional<String> find(String text) {
        if (rules.isEmpty() || text == null || text.isEmpty()) {
            return Optional.empty();
        }
        List<String> forms = PromptText.forms(text);
        for (Rule r : rules) {
            for (String f : forms) {
                if (r.foundIn(f)) {
                    return Optional.of(r.display());
                }
            }
        }
        return Optional.empty();
    }

    private static Rule regex(BlockedTerm t) {
        return new RegexRule(BlockedTerm.compile(t.term()), t.display());
    }

    private static Rule word(BlockedTerm t) {
        String s = PromptText.fold(t.term());
        boolean anyStart = s.startsWith("*");
        boolean anyEnd = s.endsWith("*") && s.length() > 1;
        String w = PromptText.collapse(s.substring(anyStart ? 1 : 0, s.length() - (anyEnd ? 1 : 0)));
        return new WordRule(w, anyStart, anyEnd, t.display());
    }

    private record RegexRule(Pattern pattern, String display) implements Rule {
        @Override
        public boolean foundIn(String folded) {
            return pattern.matcher(folded).find();
        }
    }

    private record WordRule(String word, boolean anyStart, boolean anyEnd, String display) implements Rule {
        @Override
        public boolean foundIn(String f) {
            for (int i = f.indexOf(word); i >= 0; i = f.indexOf(word, i + 1)) {
                int end = i + word.length();
                boolean startOk = anyStart || i == 0 || edge(word.codePointAt(0), f.codePointBefore(i));
                boolean endOk = anyEnd || end == f.length() || edge(word.codePointBefore(word.length()), f.codePointAt(end));
                if (startOk && endOk) {
                    return true;
                }
            }
            return false;
        }

        /** Whether a word whose edge character is {@code inner} ends where {@code outer} follows. */
        private static boolean edge(int inner, int outer) {
            if (Character.isLetter(inner)) {
                return !Character.isLetter(outer);
            }
            if (Character.isDigit(inner)) {
                return !Character.isDigit(outer);
            }
            return true;
        }
    }
}
