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
        JobStore jobs = new JobStore(db.dataSource(), Clock.systemUTC());
        UUID job = submit(jobs, 666_000 + g, g, false, 2);
        jobs.complete(job, "w", List.of(image(0), image(1)));
        assertEquals(2, store.hideAsAdmin(g, 43, job));
        store.recordRefusal(null, 44, "in a direct message");
        List<AuditEntry> log = store.audit(g, 10);
        assertEquals(2, log.size());
        assertEquals(new AuditEntry(43, "hide", "job " + job + ": 2 image(s) hidden", log.get(0).at()), log.get(0));
        assertTrue(new ImageStore(db.dataSource()).image(job, 0).isEmpty(), "hidden");
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

    @Test
    void aResultsVerdictsAreStoredAsTheServerSaysRecordedForAdminsAndKeptOutOfTheGallery() {
        long g = GUILDS.incrementAndGet();
        long user = 888_000 + g;
        JobStore jobs = new JobStore(db.dataSource(), Clock.systemUTC());
        ImageStore images = new ImageStore(db.dataSource());
        GalleryStore gallery = new GalleryStore(db.dataSource());
        QuotaPolicy policy = new QuotaPolicy(100, 10);
        store.changeSettings(g, 1, new SettingsChange(null, FlaggedAction.SPOILER, null));

        // a job from an ordinary channel: image 0 passed, image 1 flagged, image 2 not checked
        UUID spoilered = submit(jobs, user, g, false, 3);
        JobStore.Completed done = jobs.completeAndGet(spoilered, "w", List.of(image(0).checked(false, -0.2f),
                image(1).checked(true, 0.031f), image(2))).orElseThrow();
        assertEquals(List.of(ImageSafety.PASSED, ImageSafety.FLAGGED, ImageSafety.UNCHECKED),
                done.images().stream().map(StoredImage::safety).toList());
        assertTrue(done.images().get(1).spoiler() && !done.images().get(1).withheld());
        assertEquals(done.images().stream().map(StoredImage::shownAs).toList(),
                images.images(spoilered).stream().map(StoredImage::shownAs).toList(), "read back as stored");
        assertEquals(ImageSafety.FLAGGED, images.images(spoilered).get(1).safety());
        assertTrue(images.image(spoilered, 1).isEmpty(), "nothing is derived from a flagged image");
        assertTrue(images.image(spoilered, 0).isPresent() && images.image(spoilered, 2).isPresent());
        assertEquals(3, jobs.quota(user, policy).usedToday(), "charged as run");

        // a server that never chose withholds; a redelivered result records nothing twice
        long other = GUILDS.incrementAndGet();
        UUID withheld = submit(jobs, user, other, false, 1);
        assertTrue(jobs.completeAndGet(withheld, "w", List.of(image(0).checked(true, 0.5f))).orElseThrow()
                .images().get(0).withheld());
        assertTrue(jobs.completeAndGet(withheld, "w", List.of(image(0).checked(true, 0.5f))).isEmpty());
        assertEquals(1, store.flagged(other, 10).size());
        assertEquals(FlaggedAction.WITHHOLD, store.flagged(other, 10).get(0).action());

        // an age-restricted channel: whatever a worker said, its images are unchecked, never flagged
        UUID restricted = submit(jobs, user, g, true, 1);
        assertEquals(ImageSafety.UNCHECKED, jobs.completeAndGet(restricted, "w",
                List.of(image(0).checked(true, 0.4f))).orElseThrow().images().get(0).safety());

        List<ModerationStore.Flagged> flagged = store.flagged(g, 10);
        assertEquals(1, flagged.size());
        assertEquals(new ModerationStore.Flagged(spoilered, 1, user, "mod-user", flagged.get(0).prompt(), 0.031f,
                FlaggedAction.SPOILER, flagged.get(0).at()), flagged.get(0));

        // the gallery: only the image that passed
        List<GalleryItem> shown = gallery.page(new GalleryQuery(user, null, null, null, null, 100)).items();
        assertEquals(1, shown.size(), shown.toString());
        assertEquals(images.image(spoilered, 0).orElseThrow().id(), shown.get(0).id());
        long unchecked = images.image(spoilered, 2).orElseThrow().id();
        assertTrue(gallery.image(unchecked).isEmpty() && !gallery.isVisible(unchecked)
                && gallery.png(unchecked).isEmpty());
    }

    private static UUID submit(JobStore jobs, long user, long guild, boolean ageRestricted, int count) {
        NewJob j = JobStoreIT.job(user, count);
        NewJob in = new NewJob(j.request().withAgeRestricted(ageRestricted), user, "mod-user", guild, j.channelId(),
                j.kind(), null, null, null, null);
        return assertInstanceOf(Submission.Accepted.class, jobs.submit(in, new QuotaPolicy(100, 10))).jobId();
    }

    private static StoredImage image(int i) {
        return new StoredImage(i, 10 + i, 512, 512, new byte[] {1, 2, (byte) i}, new byte[] {3}, "a cat");
    }
}
