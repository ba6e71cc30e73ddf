package org.diffusionbot.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.diffusionbot.db.ModerationStore.AddResult;
import org.diffusionbot.db.ModerationStore.AuditEntry;
import org.diffusionbot.db.ModerationStore.FlaggedAction;
import org.diffusionbot.db.ModerationStore.Settings;
import org.diffusionbot.db.ModerationStore.SettingsChange;
import org.diffusionbot.db.ModerationStore.Term;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Moderation settings, blocked terms, flagged images and the audit log on the real PostgreSQL server. */
class ModerationStoreIT {
    static final AtomicLong GUILDS = new AtomicLong(5000);
    static TestDatabase testDb;
    static Database db;
    static ModerationStore store;

    @BeforeAll
    static void start() throws SQLException {
        testDb = TestDatabase.create();
        db = Database.start(testDb.settings());
        store = new ModerationStore(db.dataSource());
    }

    @AfterAll
    static void stop() throws SQLException {
        db.close();
        testDb.close();
    }

    @Test
    void aServerWithoutSettingsGetsTheDefaults() {
        assertEquals(Settings.DEFAULT, store.settings(GUILDS.incrementAndGet()));
    }

    @Test
    void settingsChangeOneAtATimeAndAreAudited() {
        long g = GUILDS.incrementAndGet();
        store.changeSettings(g, 7, new SettingsChange(true, null, null));
        assertEquals(new Settings(true, FlaggedAction.WITHHOLD, false, List.of()), store.settings(g));
        store.changeSettings(g, 8, new SettingsChange(null, FlaggedAction.SPOILER, null));
        store.changeSettings(g, 8, new SettingsChange(null, null, true));
        assertEquals(new Settings(true, FlaggedAction.SPOILER, true, List.of()), store.settings(g));
        store.changeSettings(g, 7, new SettingsChange(false, null, null));
        assertEquals(new Settings(false, FlaggedAction.SPOILER, true, List.of()), store.settings(g));
        List<AuditEntry> log = store.audit(g, 10);
        assertEquals(List.of("default_terms=false", "require_age_restricted=true", "flagged_action=spoiler",
                "default_terms=true"), log.stream().map(AuditEntry::detail).toList());
        assertEquals(List.of(7L, 8L, 8L, 7L), log.stream().map(AuditEntry::actorId).toList());
        assertTrue(log.stream().allMatch(e -> e.action().equals("setting")));
        assertEquals(Settings.DEFAULT, store.settings(g + 100_000), "other servers are untouched");
    }

    @Test
    void termsAreAddedOnceRemovedAndStoredVerbatim() {
        long g = GUILDS.incrementAndGet();
        Term word = new Term("word", "bad'; DROP TABLE blocked_terms; --");
        Term regex = new Term("regex", "n[uü]d(e|ity)");
        assertEquals(AddResult.ADDED, store.addTerm(g, 1, word));
        assertEquals(AddResult.ADDED, store.addTerm(g, 1, regex));
        assertEquals(AddResult.ALREADY_THERE, store.addTerm(g, 2, word));
        assertEquals(List.of(word, regex), store.settings(g).terms());
        assertTrue(store.removeTerm(g, 3, word));
        assertFalse(store.removeTerm(g, 3, word));
        assertEquals(List.of(regex), store.settings(g).terms());
        assertEquals(List.of("unblock word bad'; DROP TABLE blocked_terms; --", "block regex n[uü]d(e|ity)",
                "block word bad'; DROP TABLE blocked_terms; --"),
                store.audit(g, 10).stream().map(e -> e.action() + " " + e.detail()).toList(),
                "only changes are audited, not the repeated add or the second remove");
        assertThrows(ConstraintViolationException.class, () -> store.addTerm(g, 1, new Term("glob", "x")),
                "the schema refuses an unknown kind");
    }

    @Test
    void aServerHasAtMostMaxTerms() throws SQLException {
        long g = GUILDS.incrementAndGet();
        try (Connection c = db.dataSource().getConnection(); Statement s = c.createStatement()) {
            s.execute("INSERT INTO blocked_terms (guild_id, kind, term, added_by) SELECT " + g
                    + ", 'word', 'w' || i, 1 FROM generate_series(1, " + (ModerationStore.MAX_TERMS - 1) + ") i");
        }
        assertEquals(AddResult.ADDED, store.addTerm(g, 1, new Term("word", "last")));
        assertEquals(AddResult.FULL, store.addTerm(g, 1, new Term("word", "one too many")));
        assertEquals(ModerationStore.MAX_TERMS, store.settings(g).terms().size());
    }

    @Test
    void refusalsAndHidesAreAudited() {
        long g = GUILDS.incrementAndGet();
        String longPrompt = "🐱".repeat(2500); // 5000 chars: cut to 4000 without splitting a surrogate pair
        store.recordRefusal(g, 42, longPrompt);
        store.recordHide(g, 43, 99);
        store.recordRefusal(null, 44, "in a direct message");
        List<AuditEntry> log = store.audit(g, 10);
        assertEquals(2, log.size());
        assertEquals(new AuditEntry(43, "hide", "image 99", log.get(0).at()), log.get(0));
        assertEquals("refusal", log.get(1).action());
        assertEquals(4000, log.get(1).detail().length());
        assertEquals("🐱".repeat(2000), log.get(1).detail());
    }

    @Test
    void flaggedImagesAreRecordedOnceWithTheJobsAuthor() {
        long g = GUILDS.incrementAndGet();
        long user = 777_000 + g;
        JobStore jobs = new JobStore(db.dataSource(), Clock.systemUTC());
        NewJob j = JobStoreIT.job(user, 2);
        NewJob inGuild = new NewJob(j.request(), user, "flagged-author", g, j.channelId(), j.kind(), j.parentImageId(),
                j.applicationId(), j.interactionToken(), j.tokenExpiresAt());
        UUID id = assertInstanceOf(Submission.Accepted.class, jobs.submit(inGuild, new QuotaPolicy(10, 3))).jobId();
        store.recordFlagged(id, 1, 0.123f, FlaggedAction.SPOILER);
        store.recordFlagged(id, 1, 0.5f, FlaggedAction.WITHHOLD); // a redelivered result changes nothing
        store.recordFlagged(id, 0, 0.01f, FlaggedAction.SPOILER);
        store.recordFlagged(UUID.randomUUID(), 0, 0.2f, FlaggedAction.SPOILER); // unknown job: nothing
        List<ModerationStore.Flagged> f = store.flagged(g, 10);
        assertEquals(2, f.size());
        ModerationStore.Flagged one = f.stream().filter(x -> x.imageIndex() == 1).findFirst().orElseThrow();
        assertEquals(id, one.jobId());
        assertEquals(user, one.userId());
        assertEquals("flagged-author", one.userName());
        assertEquals(0.123f, one.score());
        assertEquals(FlaggedAction.SPOILER, one.action());
        assertEquals(j.request().prompt(), one.prompt());
        assertEquals(List.of(), store.flagged(g + 100_000, 10));
    }
}
