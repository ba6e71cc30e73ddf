package org.diffusionbot.bot.service;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.diffusionbot.bot.moderation.BlockedTerm;
import org.diffusionbot.bot.moderation.PromptFilter;
import org.diffusionbot.bot.workers.WorkerRegistry;
import org.diffusionbot.common.Text;
import org.diffusionbot.common.messages.JobRequest;
import org.diffusionbot.db.ModerationStore;
import org.diffusionbot.db.NewJob;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A server's moderation (docs/MODERATION.md): the rules every submission is checked against before anything is
 * charged — its blocked terms (its own and, when turned on, the shipped list) and whether {@code /imagine} needs an
 * age-restricted channel while no worker checks images —, the audit of refusals, and {@code /admin moderation}'s
 * actions, each audited by {@link ModerationStore} in the transaction that makes it.
 *
 * <p>A server's {@link PromptFilter} is compiled once per version of its list and reused while the list stays the
 * same; the settings themselves are read with every submission ({@code SettingsStore.forSubmission}, in the same
 * statement as the member's defaults), so a change counts from the next one on.
 */
public final class ModerationService {
    private static final Logger LOG = LoggerFactory.getLogger(ModerationService.class);
    /** The most flagged images or audit lines one {@code /admin moderation} answer lists. */
    public static final int LIST_LIMIT = 25;

    private final ModerationStore store;
    private final WorkerRegistry workers;
    private final Map<Long, Compiled> filters = new ConcurrentHashMap<>();

    private record Compiled(boolean defaults, List<ModerationStore.Term> terms, PromptFilter filter) {
    }

    public ModerationService(ModerationStore store, WorkerRegistry workers) {
        this.store = store;
        this.workers = workers;
    }

    /**
     * What a submission from one server is checked against.
     *
     * @param filter the server's blocked terms
     * @param requireAgeRestricted refuse jobs from channels that are not age-restricted while the workers of the
     *     job's model do not all check images
     */
    public record Rules(PromptFilter filter, boolean requireAgeRestricted) {
        /** Direct messages, and servers that never set anything: nothing is refused. */
        public static final Rules NONE = new Rules(PromptFilter.NONE, false);

        /**
         * Checks a job against these rules, without I/O: its prompt and negative prompt (blocked terms first, so a
         * blocked prompt is always audited), then its channel.
         *
         * @param imagesChecked whether the workers of the job's model check images
         *     ({@link WorkerRegistry#checksImages})
         * @return why the job is refused, or empty
         */
        public Optional<Refusal> check(JobRequest job, boolean imagesChecked) {
            Optional<PromptFilter.Refusal> blocked = filter.check(job.prompt(), job.negativePrompt());
            if (blocked.isPresent()) {
                return Optional.of(new Refusal.Blocked(blocked.get().term(), blocked.get().field()));
            }
            if (requireAgeRestricted && !job.ageRestricted() && !imagesChecked) {
                return Optional.of(new Refusal.NeedsAgeRestrictedChannel(job.model()));
            }
            return Optional.empty();
        }
    }

    /** Why moderation refuses a job; {@link #message()} is what the user is told (nothing was charged). */
    public sealed interface Refusal {
        String message();

        /** The prompt or negative prompt contains a blocked term ({@code field}: "prompt" or "negative prompt"). */
        record Blocked(String term, String field) implements Refusal {
            @Override
            public String message() {
                return "your " + field + " contains `" + Text.codeText(Text.shorten(term, 100))
                        + "`, which is blocked on this server. Nothing was charged.";
            }
        }

        /** The server requires an age-restricted channel while the workers of {@code model} do not check images. */
        record NeedsAgeRestrictedChannel(String model) implements Refusal {
            @Override
            public String message() {
                return "this server allows /imagine only in age-restricted channels while the workers do not check"
                        + " images, and not every worker serving `" + Text.codeText(model) + "` runs the image safety"
                        + " check right now. Use an age-restricted channel. Nothing was charged.";
            }
        }
    }

    /**
     * The rules for a submission from {@code guildId} (null: a direct message, {@link Rules#NONE}) whose settings
     * were just read ({@link org.diffusionbot.db.SubmissionContext#moderation()}).
     */
    public Rules rules(Long guildId, ModerationStore.Settings settings) {
        if (guildId == null) {
            return Rules.NONE;
        }
        return new Rules(filter(guildId, settings), settings.requireAgeRestricted());
    }

    /**
     * Checks a job before it is charged; a blocked prompt is audited ({@code refusal}, with the term and the text).
     *
     * @return the refusal for the user, or empty when the job may run
     */
    public Optional<Refusal> refusal(NewJob job, Rules rules) {
        JobRequest r = job.request();
        Optional<Refusal> refusal = rules.check(r, !rules.requireAgeRestricted() || workers.checksImages(r.model()));
        if (refusal.orElse(null) instanceof Refusal.Blocked b) {
            LOG.info("job of user {} in guild {} refused: blocked term {} in the {}", job.userId(), job.guildId(),
                    b.term(), b.field());
            try {
                store.recordRefusal(job.guildId(), job.userId(), "blocked " + b.term() + " in the " + b.field() + ": "
                        + (b.field().equals("prompt") ? r.prompt() : r.negativePrompt()));
            } catch (RuntimeException e) {
                // the refusal stands; only its audit line is missing
                LOG.warn("refusal of user {} not audited: {}", job.userId(), e.getMessage());
            }
        }
        return refusal;
    }

    /** The server's settings and its own blocked terms. */
    public ModerationStore.Settings settings(long guildId) {
        return store.settings(guildId);
    }

    /** Blocks a term (already validated: {@link BlockedTerm#parse}) on the server, audited. */
    public ModerationStore.AddResult block(long guildId, long adminId, BlockedTerm term) {
        return store.addTerm(guildId, adminId, new ModerationStore.Term(term.kind().dbName(), term.term()));
    }

    /**
     * Unblocks a term as the admin typed it ({@code /pattern/} or a word, as {@link BlockedTerm#parse} reads it, so
     * the same text that blocked a term unblocks it), audited.
     *
     * @return false when the server had no such term
     */
    public boolean unblock(long guildId, long adminId, String typed) {
        String s = typed == null ? "" : typed.strip();
        ModerationStore.Term term;
        try {
            BlockedTerm t = BlockedTerm.parse(s);
            term = new ModerationStore.Term(t.kind().dbName(), t.term());
        } catch (IllegalArgumentException e) {
            // not valid (any more): remove it exactly as written
            boolean regex = s.length() >= 2 && s.startsWith("/") && s.endsWith("/");
            term = new ModerationStore.Term(regex ? "regex" : "word", regex ? s.substring(1, s.length() - 1) : s);
        }
        return store.removeTerm(guildId, adminId, term);
    }

    /** Changes settings (null fields unchanged), audited. */
    public void change(long guildId, long adminId, ModerationStore.SettingsChange change) {
        store.changeSettings(guildId, adminId, change);
    }

    /** The server's flagged images, newest first ({@link #LIST_LIMIT} at most). */
    public List<ModerationStore.Flagged> flagged(long guildId) {
        return store.flagged(guildId, LIST_LIMIT);
    }

    /** The server's moderation audit log, newest first ({@link #LIST_LIMIT} at most). */
    public List<ModerationStore.AuditEntry> audit(long guildId) {
        return store.audit(guildId, LIST_LIMIT);
    }

    /** Whether the workers of {@code model} check images now ({@link WorkerRegistry#checksImages}). */
    public boolean checksImages(String model) {
        return workers.checksImages(model);
    }

    private PromptFilter filter(long guildId, ModerationStore.Settings s) {
        Compiled c = filters.get(guildId);
        if (c != null && c.defaults() == s.defaultTerms() && c.terms().equals(s.terms())) {
            return c.filter();
        }
        List<BlockedTerm> terms = new ArrayList<>(s.defaultTerms() ? BlockedTerm.defaults() : List.of());
        for (ModerationStore.Term t : s.terms()) {
            try {
                terms.add(new BlockedTerm(BlockedTerm.Kind.fromDb(t.kind()), t.term()));
            } catch (IllegalArgumentException e) {
                LOG.warn("blocked {} of guild {} is not valid and is skipped: {}", t.kind(), guildId, e.getMessage());
            }
        }
        PromptFilter f = PromptFilter.of(terms);
        filters.put(guildId, new Compiled(s.defaultTerms(), s.terms(), f));
        return f;
    }
}
